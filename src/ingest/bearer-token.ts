// The ingest bearer token (config `ingestTokenFile`), checked the same way on OTLP/HTTP
// (`Authorization` header) and OTLP/gRPC (`authorization` metadata).
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Whether an `Authorization` value carries the token; always true when no token is configured. */
export function bearerTokenCheck(token: string | undefined): (authorization: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const tokenDigest = digest(token);
  return (authorization) => {
    const header = authorization ?? '';
    // The auth scheme is case-insensitive (RFC 7235 section 2.1): `bearer` and `BEARER` are Bearer.
    const scheme = /^bearer +/i.exec(header);
    const presented = scheme ? header.slice(scheme[0].length).trim() : '';
    // Comparing digests keeps the comparison constant-time whatever the presented length.
    return timingSafeEqual(digest(presented), tokenDigest);
  };
}

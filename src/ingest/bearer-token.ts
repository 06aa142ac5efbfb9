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
    const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    // Comparing digests keeps the comparison constant-time whatever the presented length.
    return timingSafeEqual(digest(presented), tokenDigest);
  };
}

// Small helpers for answering ingest requests; OTLP answers go through the codecs instead.
import type { ServerResponse } from 'node:http';

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

/** An error answer in the shape of google.rpc.Status, which the traces endpoint also uses. */
export function sendJsonError(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(response, status, { code: grpcCodeFor(status), message }, headers);
}

/** The google.rpc.Code that matches an HTTP status (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto). */
export function grpcCodeFor(status: number): number {
  switch (status) {
    case 400:
    case 413:
      return 3; // INVALID_ARGUMENT
    case 401:
      return 16; // UNAUTHENTICATED
    case 404:
      return 5; // NOT_FOUND
    case 405:
    case 415:
      return 12; // UNIMPLEMENTED
    case 429:
      return 8; // RESOURCE_EXHAUSTED
    case 503:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

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

/**
 * The google.rpc.Code for each HTTP status the ingest endpoints answer with, as the HTTP mapping in
 * https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto gives it.
 */
const GRPC_CODE_BY_HTTP_STATUS: ReadonlyMap<number, number> = new Map([
  [400, 3], // INVALID_ARGUMENT
  [413, 3], // INVALID_ARGUMENT
  [401, 16], // UNAUTHENTICATED
  [404, 5], // NOT_FOUND
  [405, 12], // UNIMPLEMENTED
  [415, 12], // UNIMPLEMENTED
  [429, 8], // RESOURCE_EXHAUSTED
  [503, 14], // UNAVAILABLE
]);
const GRPC_UNKNOWN = 2;

/** The google.rpc.Code that matches an HTTP status; UNKNOWN for any other. */
export function grpcCodeFor(status: number): number {
  return GRPC_CODE_BY_HTTP_STATUS.get(status) ?? GRPC_UNKNOWN;
}

// One windows API request as a workload makes it, from a chosen loopback address (127.0.0.1,
// 127.0.0.2...), so tests can be two clients of the daemon from one process.
import { type Agent, request } from 'node:http';

export interface WindowRequest {
  /** http://127.0.0.1:<ingest port> */
  ingestUrl: string;
  method: 'POST' | 'PUT' | 'DELETE';
  /** /v1/windows or /v1/windows/<id> */
  path: string;
  localAddress?: string;
  agent?: Agent;
  baggage?: string;
  body?: unknown;
}

export interface WindowAnswer {
  status: number;
  retryAfter?: string;
  json: Record<string, unknown>;
}

export function windowRequest({ ingestUrl, method, path, localAddress = '127.0.0.1', agent, baggage, body }: WindowRequest): Promise<WindowAnswer> {
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const call = request(
      new URL(path, ingestUrl),
      {
        method,
        localAddress,
        ...(agent && { agent }),
        headers: { ...(baggage !== undefined && { baggage }), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
      },
      (response) => {
        let answer = '';
        response.on('data', (chunk: Buffer) => (answer += chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            ...(response.headers['retry-after'] !== undefined && { retryAfter: response.headers['retry-after'] }),
            json: answer === '' ? {} : (JSON.parse(answer) as Record<string, unknown>),
          }),
        );
      },
    );
    call.on('error', reject);
    call.end(text);
  });
}

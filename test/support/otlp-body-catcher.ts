// A loopback OTLP/HTTP receiver that keeps every request body as the exporter sent it, so tests
// read real exporters' bytes through footprint's own decoders.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BodyCatcher {
  /** http://127.0.0.1:PORT, for exporterFor's `url`. */
  url: string;
  /** Bodies in arrival order; take them with `splice(0)` between exports. */
  bodies: Buffer[];
  close(): Promise<void>;
}

export async function catchExportBodies(): Promise<BodyCatcher> {
  const bodies: Buffer[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      response.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

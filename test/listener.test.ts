// The shared connection cap over two real listeners (the OTLP/HTTP and OTLP/gRPC ingest ports share
// it): when one listener holds every slot, the other must refuse, although Node 20 reads a server's
// `maxConnections = 0` as "no limit" (issue 19, F13: the cap was exceeded by one).
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedConnectionCap, listen } from '../src/listener.ts';
import { sleep } from './support/eventually.ts';

const servers: Server[] = [];
const clients: Socket[] = [];

/** A listener on a free loopback port whose connections stay open until the client leaves. */
async function holdingServer(cap: SharedConnectionCap): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.on('error', () => undefined));
  cap.add(server);
  servers.push(server);
  const { port } = await listen(server, '127.0.0.1', 0, 'test');
  return { server, port };
}

/** Connects and resolves with whether the server closed the connection within `waitMs`. */
function closedByServer(port: number, waitMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    clients.push(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), waitMs);
  });
}

function connectionsOf(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

afterEach(async () => {
  for (const socket of clients.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('SharedConnectionCap', () => {
  it('refuses every connection to a listener holding none of the cap while the other holds all of it, and takes one again once a slot frees', async () => {
    const cap = new SharedConnectionCap(2);
    const http = await holdingServer(cap);
    const grpc = await holdingServer(cap);
    expect(await Promise.all([closedByServer(http.port), closedByServer(http.port)])).toEqual([false, false]);
    expect(await connectionsOf(http.server)).toBe(2);

    // Three tries at the other listener: each is closed, none is ever counted.
    expect(await Promise.all([closedByServer(grpc.port), closedByServer(grpc.port), closedByServer(grpc.port)])).toEqual([true, true, true]);
    expect(await connectionsOf(grpc.server)).toBe(0);
    expect(await closedByServer(http.port)).toBe(true);

    clients[0]!.destroy();
    await sleep(100);
    expect(await closedByServer(grpc.port)).toBe(false);
    expect(await closedByServer(grpc.port)).toBe(true);
    expect([await connectionsOf(http.server), await connectionsOf(grpc.server)]).toEqual([1, 1]);
  });
});

// The OTLP/gRPC listener's sockets. grpc-js would own them (bindAsync) with no connection cap and
// no timeout that starts at connect; instead footprint owns the net.Server (the shared ingest
// connection cap, an idle timeout armed at connect) and hands each accepted socket to grpc-js
// through Server.createConnectionInjector (grpc-js >= 1.11). The injector is made when the first
// connection arrives (grpc-js loads then); a connection accepted meanwhile waits with its bytes
// buffered in its socket, which Node's HTTP/2 session reads first when it takes the socket over.
import type { ConnectionInjector } from '@grpc/grpc-js';
import type { CallBusy } from './grpc-call-guard.ts';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { listen, type SharedConnectionCap } from '../listener.ts';

interface ConnectionState {
  socket: Socket;
  /** Calls between their half-close (the whole request arrived) and their status. */
  busyCalls: number;
  /** When the connection was accepted or last finished an export of a non-empty message. */
  lastActiveMs: number;
}

export interface GrpcSocketsOptions {
  /** A connection with no call in flight and no export finished for this long is closed (config `ingestIdleTimeout`). */
  idleTimeoutMs: number;
  cap: SharedConnectionCap;
  /** Called once, at the first connection. */
  loadInjector: () => Promise<ConnectionInjector>;
  /** The injector could not be made: each connection is closed, and this is told why. */
  onInjectorError: (error: unknown) => void;
}

export interface GrpcSockets {
  listen(host: string, port: number): Promise<AddressInfo>;
  /**
   * A call on the connection from `remoteAddress:remotePort` has its whole request; the returned function
   * ends that, once however often it is called, `exported` counting as the connection's activity.
   */
  callBusy: CallBusy;
  close(): Promise<void>;
}

const connectionKey = (address: string | undefined, port: number | undefined) => `${address}|${port}`;

export function createGrpcSockets({ idleTimeoutMs, cap, loadInjector, onInjectorError }: GrpcSocketsOptions): GrpcSockets {
  const connections = new Map<string, ConnectionState>();
  let injector: Promise<ConnectionInjector> | undefined;

  const server = createServer((socket) => {
    const key = connectionKey(socket.remoteAddress, socket.remotePort);
    const state: ConnectionState = { socket, busyCalls: 0, lastActiveMs: Date.now() };
    connections.set(key, state);
    socket.once('close', () => connections.delete(key));
    // HTTP/2 reads the socket's handle in native code, so traffic does not re-arm a socket timeout:
    // the timer, armed at connect, checks the connection's calls instead. A socket that never sends
    // a byte, a stream that never completes its message, a client that only pings and one whose calls
    // are refused or carry empty messages are closed.
    socket.setTimeout(idleTimeoutMs);
    socket.on('timeout', () => {
      const idleMs = Date.now() - state.lastActiveMs;
      if (state.busyCalls > 0) socket.setTimeout(idleTimeoutMs);
      else if (idleMs < idleTimeoutMs) socket.setTimeout(idleTimeoutMs - idleMs);
      else socket.destroy();
    });
    injector ??= loadInjector();
    injector.then(
      (loaded) => {
        if (!socket.destroyed) loaded.injectConnection(socket);
      },
      (error: unknown) => {
        onInjectorError(error);
        socket.destroy();
      },
    );
  });
  cap.add(server);

  return {
    listen: (host, port) => listen(server, host, port, 'ingestGrpcListen'),
    callBusy(remoteAddress, remotePort) {
      const state = connections.get(connectionKey(remoteAddress, remotePort));
      if (!state) return () => undefined;
      state.busyCalls++;
      let done = false;
      return (exported) => {
        if (done) return;
        done = true;
        state.busyCalls--;
        if (exported) state.lastActiveMs = Date.now();
      };
    },
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const { socket } of connections.values()) socket.destroy();
      return Promise.all([
        closed,
        injector?.then(
          (loaded) => loaded.destroy(),
          () => undefined,
        ),
      ]).then(() => undefined);
    },
  };
}

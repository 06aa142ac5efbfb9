// What the listeners (metrics, ingest HTTP and gRPC) share: connection limits and a listen() whose
// failures become one start-up line naming the config key, the value and what to do.
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';

/** A start-up failure the CLI prints as one line and exits 2 on, like a config error. */
export class StartupError extends Error {}

export interface ListenerLimits {
  /** A socket with no traffic for this long is closed; armed at connect, so a socket that never sends a byte is closed too. */
  idleTimeoutMs: number;
  /** More connections than this at once are closed on accept. */
  maxConnections: number;
}

export function applyListenerLimits(server: Server, { idleTimeoutMs, maxConnections }: ListenerLimits): void {
  server.maxConnections = maxConnections;
  // node:http arms socket.setTimeout(server.timeout) on connect and destroys the socket on timeout.
  server.timeout = idleTimeoutMs;
  server.headersTimeout = idleTimeoutMs;
  server.keepAliveTimeout = Math.min(5000, idleTimeoutMs);
}

/**
 * One connection cap over several servers: the OTLP/HTTP and OTLP/gRPC ingest listeners share
 * `ingestMaxConnections`, so the descriptor check counts it once. Each server's `maxConnections`
 * is set to its own open connections plus what the cap has left, so Node refuses a connection
 * over the cap on accept, before it becomes a socket. Node 20 reads `maxConnections = 0` as "no
 * limit" (other runtimes as "none"), so a server that holds none of the cap while the others hold
 * all of it is given 1: the one connection it may then accept is closed here, before anything
 * reads from it, and never counted.
 */
export class SharedConnectionCap {
  readonly #servers: Array<{ server: NetServer; open: number }> = [];
  #open = 0;

  constructor(readonly maxConnections: number) {}

  add(server: NetServer): void {
    const entry = { server, open: 0 };
    this.#servers.push(entry);
    // First among the server's listeners, so a connection over the cap is gone before HTTP or gRPC sees it.
    server.prependListener('connection', (socket: Socket) => {
      if (this.#open >= this.maxConnections) {
        socket.destroy();
        return;
      }
      entry.open++;
      this.#open++;
      this.#update();
      socket.once('close', () => {
        entry.open--;
        this.#open--;
        this.#update();
      });
    });
    this.#update();
  }

  #update(): void {
    const freeConnections = Math.max(0, this.maxConnections - this.#open);
    for (const entry of this.#servers) entry.server.maxConnections = Math.max(1, entry.open + freeConnections);
  }
}

const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;

/**
 * Rewrites an absolute-form request target (`GET http://node:4318/v1/plan?duration=4h`, which a
 * client talking through a proxy sends and RFC 9112 section 3.2.2 says a server must accept) to its
 * origin form (`/v1/plan?duration=4h`), so every listener routes it as it routes the path.
 */
export function useOriginForm(request: IncomingMessage): void {
  const target = request.url ?? '/';
  const authority = ABSOLUTE_FORM.exec(target);
  if (!authority) return;
  const rest = target.slice(authority[0].length);
  request.url = rest.startsWith('/') ? rest : `/${rest}`;
}

function advice(code: string | undefined, port: number): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'the port is in use by another process; pick a free port or stop the other process';
    case 'EADDRNOTAVAIL':
      return 'no network interface of this host has that address; use one of its addresses or 0.0.0.0';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return 'the host name does not resolve; use an IP address or a resolvable name';
    case 'EACCES':
      return port < 1024 ? 'ports below 1024 need privileges; use a port >= 1024' : 'permission denied; pick another port';
    default:
      return 'check the address';
  }
}

/** Stops accepting, drops open connections (keep-alive sockets would hold close() open) and resolves once closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

/** Listens on host:port; `key` names the config key in the error a failure becomes. */
export function listen(server: NetServer, host: string, port: number, key: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(new StartupError(`config: ${key}: cannot listen on '${host}:${port}': ${error.code ?? error.message}: ${advice(error.code, port)}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

// The built daemon as a user runs it: a child process `node bin/footprint.js start` (run `npm run build`
// first) on a host root, its three listeners on free loopback ports, ready when /readyz answers 200,
// its output kept for failure messages, stopped with SIGTERM. Tests and benches that need the daemon's
// own process (its RSS, its heap limit, a crash showing as refused connections) share it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.ts';
import { freePort } from './prom-server.ts';

/** The resident set of process `pid` (VmRSS), in bytes. */
export function residentBytes(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/**
 * The Node settings the chart gives the daemon at its default 512Mi limit (templates/daemonset.yaml,
 * asserted in test/helm/chart.test.ts): a 64 MiB old generation (the limit / 8Mi), 1 MiB
 * semi-spaces, two malloc arenas. RSS bounds asserted under it are for the agent as deployed.
 */
export const CHART_ENV = { NODE_OPTIONS: '--max-old-space-size=64 --max-semi-space-size=1 --v8-pool-size=1', MALLOC_ARENA_MAX: '2' };

export const FOOTPRINT_BIN = join(import.meta.dirname, '../../bin/footprint.js');
export interface ListenerPorts {
  metricsPort: number;
  ingestPort: number;
  grpcPort: number;
}

/** The flags that put the three listeners (/metrics, OTLP/HTTP, OTLP/gRPC) on these loopback ports. */
export function listenFlags({ metricsPort, ingestPort, grpcPort }: ListenerPorts): string[] {
  return ['--listen', `127.0.0.1:${metricsPort}`, '--ingest-listen', `127.0.0.1:${ingestPort}`, '--ingest-grpc-listen', `127.0.0.1:${grpcPort}`];
}

/** The three listeners on ports the OS picks, for runs that never connect to them (exit codes, config errors). */
export const ANY_PORT_LISTEN_FLAGS = listenFlags({ metricsPort: 0, ingestPort: 0, grpcPort: 0 });
/** The daemon's output kept for a failure message: its last characters. */
const OUTPUT_KEPT_CHARS = 16_000;

export interface DaemonProcessOptions {
  /** The host root it reads; an empty temporary folder (no devices, the estimators only) when not given. */
  hostRoot?: string;
  /** Flags after the listeners, e.g. ['--interval', '2s']. */
  flags?: string[];
  /** Added to this process's environment (NODE_OPTIONS, KUBECONFIG). */
  env?: NodeJS.ProcessEnv;
  /** Node flags before the script (--expose-gc, --cpu-prof). */
  nodeFlags?: string[];
  /** Default 'error'. */
  logLevel?: string;
  /** Default 30 s; 0 returns at once, without waiting for /readyz. */
  readyTimeoutMs?: number;
}

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  metricsPort: number;
  ingestPort: number;
  grpcPort: number;
  /** http://127.0.0.1:<metricsPort> */
  metricsUrl: string;
  /** http://127.0.0.1:<ingestPort> */
  ingestUrl: string;
  /** 127.0.0.1:<grpcPort> */
  grpcAddress: string;
  /** The last of what it wrote to stdout and stderr. */
  output(): string;
  /** Sends SIGTERM (once) and resolves with its exit code when it has exited. */
  stop(): Promise<number | null>;
}

/** Starts the daemon and, unless `readyTimeoutMs` is 0, waits until /readyz answers 200. */
export async function spawnDaemon(options: DaemonProcessOptions = {}): Promise<DaemonProcess> {
  const [metricsPort, ingestPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
  const hostRoot = options.hostRoot ?? mkdtempSync(join(tmpdir(), 'footprint-host-'));
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? []),
      FOOTPRINT_BIN,
      'start',
      '--host-root',
      hostRoot,
      ...listenFlags({ metricsPort, ingestPort, grpcPort }),
      '--log-level',
      options.logLevel ?? 'error',
      ...(options.flags ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_KEPT_CHARS);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  const daemon: DaemonProcess = {
    child,
    pid: child.pid!,
    metricsPort,
    ingestPort,
    grpcPort,
    metricsUrl,
    ingestUrl: `http://127.0.0.1:${ingestPort}`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    output: () => output,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  if (readyTimeoutMs === 0) return daemon;
  const ready = eventually(
    () =>
      fetch(`${metricsUrl}/readyz`).then(
        (response) => response.ok || undefined,
        () => undefined,
      ),
    readyTimeoutMs,
    `${metricsUrl}/readyz`,
  );
  const died = exited.then((code) => Promise.reject(new Error(`the daemon exited with ${code} before it was ready`)));
  // Handled here too: after a clean start, `died` rejects when the daemon is stopped.
  died.catch(() => undefined);
  try {
    await Promise.race([ready, died]);
  } catch (error) {
    await daemon.stop();
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  return daemon;
}

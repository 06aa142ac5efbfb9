// A real server binary (prometheus, victoria-metrics) on a free loopback port, started for a test:
// its output kept for the failure message, ready when `readyPath` answers 2xx, stopped with SIGTERM.
import { spawn } from 'node:child_process';
import { freePort } from './prom-server.ts';
import { eventually } from './eventually.ts';

export interface ServerProcess {
  url: string;
  pid: number;
  stop: () => Promise<void>;
}

/** Starts `binary` with the arguments `args(port)` gives and waits up to 30 s for `readyPath`. */
export async function startServerProcess(binary: string, args: (port: number) => string[], readyPath: string): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child = spawn(binary, args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`${binary} exited with ${child.exitCode}`);
        return (
          (await fetch(`${url}${readyPath}`).then(
            (response) => response.ok,
            () => false,
          )) || undefined
        );
      },
      30_000,
      `${binary} ready at ${url}${readyPath}`,
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${output}`);
  }
  return { url, pid: child.pid!, stop };
}

// Every start-up failure of the real CLI (`node bin/footprint.js start`) is one line naming the
// key, the value and what to do, with exit code 2, and no stack trace. Log records before it are
// pino JSON lines; the failure is the only other line on stderr.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANY_PORT_LISTEN_FLAGS, FOOTPRINT_BIN } from '../support/daemon-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'footprint-startup-'));
const hostRoot = mkdtempSync(join(tmpdir(), 'footprint-startup-root-'));

function start(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FOOTPRINT_BIN, 'start', '--host-root', hostRoot, ...ANY_PORT_LISTEN_FLAGS, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, lines: stderr.split('\n').filter((line) => line !== '' && !line.startsWith('{"level":')) });
    });
  });
}

let busy: Server;
let busyPort: number;
beforeAll(async () => {
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(() => busy.close());

const emptyToken = join(dir, 'empty-token');
writeFileSync(emptyToken, '');
const blankToken = join(dir, 'blank-token');
writeFileSync(blankToken, ' \n\t\n');
const fifoToken = join(dir, 'fifo-token');
execFileSync('mkfifo', [fifoToken]);
const infinite = join(dir, 'infinite.yaml');
writeFileSync(infinite, 'interval: 1e999\n');
const huge = join(dir, 'huge.yaml');
writeFileSync(huge, `# ${'x'.repeat(2 * 1024 * 1024)}\n`);

describe.concurrent('start-up failures', () => {
  it.each([
    [
      'an empty token file',
      ['--ingest-token-file', emptyToken],
      `footprint: config: ingestTokenFile: '${emptyToken}' is empty; write the token into it, or unset ingestTokenFile to run without auth`,
    ],
    [
      'a whitespace token file',
      ['--ingest-token-file', blankToken],
      `footprint: config: ingestTokenFile: '${blankToken}' is empty; write the token into it, or unset ingestTokenFile to run without auth`,
    ],
    [
      'a FIFO as token file (must not hang)',
      ['--ingest-token-file', fifoToken],
      `footprint: config: ingestTokenFile: '${fifoToken}' is not a regular file; point it at a file`,
    ],
    [
      'port 99999',
      ['--listen', '127.0.0.1:99999'],
      "footprint: config: listen: '127.0.0.1:99999' is invalid: the port must be 1-65535 (or 0 for any free port)",
    ],
    [
      'an address of no interface',
      ['--ingest-listen', '192.0.2.1:4318'],
      "footprint: config: ingestListen: cannot listen on '192.0.2.1:4318': EADDRNOTAVAIL: no network interface of this host has that address; use one of its addresses or 0.0.0.0",
    ],
    [
      'an unresolvable host',
      ['--listen', 'no-such-host.invalid:9464'],
      "footprint: config: listen: cannot listen on 'no-such-host.invalid:9464': ENOTFOUND: the host name does not resolve; use an IP address or a resolvable name",
    ],
    [
      'a gRPC address of no interface',
      ['--ingest-grpc-listen', '192.0.2.1:4317'],
      "footprint: config: ingestGrpcListen: cannot listen on '192.0.2.1:4317': EADDRNOTAVAIL: no network interface of this host has that address; use one of its addresses or 0.0.0.0",
    ],
    [
      'an unresolvable gRPC host',
      ['--ingest-grpc-listen', 'no-such-host.invalid:4317'],
      "footprint: config: ingestGrpcListen: cannot listen on 'no-such-host.invalid:4317': ENOTFOUND: the host name does not resolve; use an IP address or a resolvable name",
    ],
    [
      'kubernetes without a node name',
      ['--kubernetes', 'true'],
      'footprint: config: nodeName: (missing) is required when kubernetes is true; set FOOTPRINT_NODE_NAME from the downward API (spec.nodeName)',
    ],
    [
      'interval: 1e999 in the file',
      ['--config', infinite],
      "footprint: config: interval: 'Infinity' is invalid: expected a duration like 500ms, 2s, 5m between 100ms and 3600000ms",
    ],
    [
      'a config file over 1 MiB',
      ['--config', huge],
      `footprint: config: --config: '${huge}' is ${2 * 1024 * 1024 + 3} bytes, over the limit of 1048576; point it at the right file`,
    ],
  ])('%s: one line, exit 2', { timeout: 30_000 }, async (_name, args, line) => {
    expect(await start(args)).toEqual({ code: 2, lines: [line] });
  });

  it('a port in use: one line, exit 2', { timeout: 30_000 }, async () => {
    expect(await start(['--ingest-listen', `127.0.0.1:${busyPort}`])).toEqual({
      code: 2,
      lines: [
        `footprint: config: ingestListen: cannot listen on '127.0.0.1:${busyPort}': EADDRINUSE: the port is in use by another process; pick a free port or stop the other process`,
      ],
    });
  });

  it('a gRPC port in use: one line, exit 2', { timeout: 30_000 }, async () => {
    expect(await start(['--ingest-grpc-listen', `127.0.0.1:${busyPort}`])).toEqual({
      code: 2,
      lines: [
        `footprint: config: ingestGrpcListen: cannot listen on '127.0.0.1:${busyPort}': EADDRINUSE: the port is in use by another process; pick a free port or stop the other process`,
      ],
    });
  });
});

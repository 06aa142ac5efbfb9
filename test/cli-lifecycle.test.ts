// Exit codes of the real CLI (`node bin/footprint.js start`, after `npm run build`): 2 and one line
// when a listener's port is taken, 0 after a clean stop on SIGTERM, 1 when a service's close fails
// (logged under its name) or the shutdown runs past its 5 s timeout. The failing close is the NVML
// source's: the double's nvmlShutdown sleeps (test/nvml-double), as a driver stuck in shutdown would.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANY_PORT_LISTEN_FLAGS, FOOTPRINT_BIN } from './support/daemon-process.ts';
import { fakeUuid, nvmlDouble, type FakeNvmlScript, type NvmlDouble } from './support/nvml-double.ts';
import { createSysfsFixture, type SysfsFixture } from './support/sysfs-fixture.ts';

interface LogRecord {
  level: number;
  /** Epoch milliseconds (pino's `time`). */
  time: number;
  msg: string;
  service?: string;
}

interface Run {
  code: number | null;
  /** stderr lines that are not pino records: the start-up failure, if any. */
  lines: string[];
  records: LogRecord[];
  /** When SIGTERM was sent, epoch milliseconds. */
  stoppedAtMs?: number;
}

/** Runs `footprint start`; with `stop`, sends SIGTERM once the start-up summary is logged. */
function runStart(args: string[], env: NodeJS.ProcessEnv, stop: boolean): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FOOTPRINT_BIN, 'start', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    let stoppedAt: number | undefined;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stop && stoppedAt === undefined && stderr.includes('"ingestGrpcPort"')) {
        stoppedAt = Date.now();
        child.kill('SIGTERM');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const all = stderr.split('\n').filter((line) => line !== '');
      resolve({
        code,
        lines: all.filter((line) => !line.startsWith('{"level":')),
        records: all.filter((line) => line.startsWith('{"level":')).map((line) => JSON.parse(line) as LogRecord),
        ...(stoppedAt !== undefined && { stoppedAtMs: stoppedAt }),
      });
    });
  });
}

const errors = (run: Run) => run.records.filter((record) => record.level >= 50).map(({ service, msg }) => (service ? { service, msg } : { msg }));

describe('footprint start: exit codes', () => {
  let fixture: SysfsFixture;
  let double: NvmlDouble;
  let busy: Server;
  let busyPort: number;
  const gpu = { uuid: fakeUuid(0), name: 'NVIDIA H100 80GB HBM3', energyMillijoules: 1_000_000, powerMilliwatts: 300_000 };

  beforeAll(async () => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 2);
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
    fixture.setMemTotal(8 * 1024 * 1024);
    double = nvmlDouble({ driverVersion: '550.54.15', gpus: [gpu] });
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    busyPort = (busy.address() as { port: number }).port;
  });
  afterAll(() => {
    busy.close();
    fixture.remove();
  });

  const args = (flags: string[] = []) => [
    '--host-root',
    fixture.root,
    '--nvml-library',
    double.libraryPath,
    ...ANY_PORT_LISTEN_FLAGS,
    '--interval',
    '200ms',
    ...flags,
  ];
  // Each test writes its own script before it starts a daemon; the tests run one after another.
  const scripted = (script: Omit<FakeNvmlScript, 'gpus'>) => {
    double.script({ driverVersion: '550.54.15', gpus: [gpu], ...script });
    return double.env;
  };

  it.each([
    [
      'listen',
      `footprint: config: listen: cannot listen on '127.0.0.1:{port}': EADDRINUSE: the port is in use by another process; pick a free port or stop the other process`,
    ],
    [
      'ingest-listen',
      `footprint: config: ingestListen: cannot listen on '127.0.0.1:{port}': EADDRINUSE: the port is in use by another process; pick a free port or stop the other process`,
    ],
    [
      'ingest-grpc-listen',
      `footprint: config: ingestGrpcListen: cannot listen on '127.0.0.1:{port}': EADDRINUSE: the port is in use by another process; pick a free port or stop the other process`,
    ],
  ])('--%s on a taken port: one line, exit 2, no error logged by the rollback', async (flag, line) => {
    const run = await runStart(args([`--${flag}`, `127.0.0.1:${busyPort}`]), scripted({}), false);
    expect({ code: run.code, lines: run.lines, errors: errors(run) }).toEqual({ code: 2, lines: [line.replaceAll('{port}', String(busyPort))], errors: [] });
  });

  it('SIGTERM: every service closes, exit 0', async () => {
    const run = await runStart(args(), scripted({}), true);
    expect({ code: run.code, lines: run.lines, errors: errors(run) }).toEqual({ code: 0, lines: [], errors: [] });
    expect(run.records.map((record) => record.msg)).toContain('shutting down');
  });

  it('a close that fails: logged under its service, exit 1', async () => {
    const run = await runStart(args(['--device-timeout', '300ms']), scripted({ hangs: { nvmlShutdown: 1500 } }), true);
    expect({ code: run.code, lines: run.lines, errors: errors(run) }).toEqual({
      code: 1,
      lines: [],
      errors: [
        {
          service: 'device sources',
          msg: 'device sources: close failed: nvml: nvmlShutdown did not return within 300 ms (deviceTimeout); the NVML worker thread was detached',
        },
      ],
    });
  });

  it('a shutdown past 5 s: logged with the service still closing, exit 1', async () => {
    const run = await runStart(args(['--device-timeout', '20s']), scripted({ hangs: { nvmlShutdown: 8000 } }), true);
    expect({ code: run.code, lines: run.lines, errors: errors(run) }).toEqual({
      code: 1,
      lines: [],
      errors: [{ service: 'device sources', msg: 'shutdown timed out after 5000 ms while closing device sources' }],
    });
    // The timeout fired 5 s after SIGTERM (the process itself ends when the thread stuck in the driver call
    // returns: Node joins worker threads at exit, and no thread can be interrupted inside native code).
    const timedOutAfterMs = run.records.find((record) => record.msg.startsWith('shutdown timed out'))!.time - run.stoppedAtMs!;
    expect(timedOutAfterMs).toBeGreaterThanOrEqual(5000);
    expect(timedOutAfterMs).toBeLessThan(5500);
  });
});

// The daemon as a composition of services (src/service.ts): a start that fails on a taken port closes,
// newest first, everything that had started (the NVML worker through nvmlShutdown, OTLP push, timers,
// sockets), and a close that fails is logged under its service's name and rejects.
import { createServer, type Server } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startDaemon } from '../src/daemon.ts';
import { fakeUuid, nvmlDouble, type NvmlDouble } from './support/nvml-double.ts';
import { createSysfsFixture, type SysfsFixture } from './support/sysfs-fixture.ts';
import { eventually } from './support/eventually.ts';

interface LogRecord {
  level: number;
  msg: string;
  service?: string;
}

/** A debug-level pino logger whose records the test reads back. */
function recordingLogger() {
  const records: LogRecord[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line) as LogRecord) });
  return { logger, records };
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** Ports free now: bound to 0 by the OS, then released. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => listenOn(0)));
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map(closeServer));
  return ports;
}

/** Open handles by kind (TCPServerWrap, Timeout, ...), for a before/after comparison. */
function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Waits `ms`, then a turn of the event loop: a timer is still listed while its own callback runs. */
const wait = async (ms: number) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  await new Promise((resolve) => setImmediate(resolve));
};

describe('daemon lifecycle', () => {
  let fixture: SysfsFixture;
  let double: NvmlDouble;

  beforeAll(() => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 2);
    fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
    fixture.setMemTotal(8 * 1024 * 1024);
    double = nvmlDouble({
      driverVersion: '550.54.15',
      gpus: [{ uuid: fakeUuid(0), name: 'NVIDIA H100 80GB HBM3', energyMillijoules: 1_000_000, powerMilliwatts: 300_000 }],
    });
  });
  afterAll(() => fixture.remove());

  const configFor = (ports: { listen: number; ingestListen: number; ingestGrpcListen: number }, flags: Record<string, unknown> = {}) =>
    loadConfig({
      flags: {
        hostRoot: fixture.root,
        nvmlLibrary: double.libraryPath,
        listen: `127.0.0.1:${ports.listen}`,
        ingestListen: `127.0.0.1:${ports.ingestListen}`,
        ingestGrpcListen: `127.0.0.1:${ports.ingestGrpcListen}`,
        // An OTLP push reader holds a timer from start: the rollback must clear it too (nothing is pushed in this test).
        otlpEndpoint: 'http://127.0.0.1:9/',
        interval: '200ms',
        ...flags,
      },
      env: {},
    });

  // Each listener in start order; the services started before it, closed newest first.
  const inUse = 'EADDRINUSE: the port is in use by another process; pick a free port or stop the other process';
  it.each([
    ['listen', ['telemetry', 'carbon accountant', 'device sources']],
    ['ingestListen', ['metrics listener', 'telemetry', 'carbon accountant', 'device sources']],
    // footprint owns the gRPC listener's socket too (src/ingest/grpc-sockets.ts), so the error reads as for HTTP.
    ['ingestGrpcListen', ['metrics listener', 'telemetry', 'carbon accountant', 'device sources']],
  ] as const)('%s taken: the start fails with one line and closes what started, newest first', async (key, closedInOrder) => {
    const [listen, ingestListen, ingestGrpcListen] = (await freePorts(3)) as [number, number, number];
    const ports = { listen, ingestListen, ingestGrpcListen };
    const busy = await listenOn(ports[key]);
    // Released handles leave the list on a later turn of the event loop.
    await wait(50);
    const before = activeResources();
    const shutdownsBefore = double.callCount('nvmlShutdown');
    const { logger, records } = recordingLogger();

    await expect(startDaemon(await configFor(ports), logger)).rejects.toThrow(`config: ${key}: cannot listen on '127.0.0.1:${ports[key]}': ${inUse}`);

    expect(records.filter((record) => record.msg === 'service closed').map((record) => record.service)).toEqual(closedInOrder);
    expect(records.filter((record) => record.level >= 50)).toEqual([]);
    // The NVML source's close ran: the worker called nvmlShutdown once.
    expect(double.callCount('nvmlShutdown')).toBe(shutdownsBefore + 1);
    // No socket, timer or worker is left: no kind of handle is more numerous than before the start
    // (a worker's port is released on a later turn, so a loaded machine gets a few seconds).
    const grown = () => Object.entries(activeResources()).filter(([kind, count]) => count > (before[kind] ?? 0));
    await eventually(() => (grown().length === 0 ? true : undefined), 5000, 'handles released').catch(() => undefined);
    expect(grown()).toEqual([]);
    // Every port is free again.
    await closeServer(busy);
    const rebound = await Promise.all(Object.values(ports).map(listenOn));
    await Promise.all(rebound.map(closeServer));
  });

  it('a close that fails is logged under its service and rejects; the other services still close', async () => {
    const ports = await freePorts(3);
    // nvmlShutdown hangs past deviceTimeout: the NVML source reports it and detaches the worker.
    double.script({
      driverVersion: '550.54.15',
      hangs: { nvmlShutdown: 1500 },
      gpus: [{ uuid: fakeUuid(0), energyMillijoules: 1_000_000, powerMilliwatts: 300_000 }],
    });
    const { logger, records } = recordingLogger();
    const daemon = await startDaemon(
      await configFor({ listen: ports[0]!, ingestListen: ports[1]!, ingestGrpcListen: ports[2]! }, { deviceTimeout: '300ms' }),
      logger,
    );

    await expect(daemon.close()).rejects.toThrow('shutdown: device sources failed to close');

    expect(records.filter((record) => record.level >= 50).map(({ service, msg }) => ({ service, msg }))).toEqual([
      {
        service: 'device sources',
        msg: 'device sources: close failed: nvml: nvmlShutdown did not return within 300 ms (deviceTimeout); the NVML worker thread was detached',
      },
    ]);
    expect(records.filter((record) => record.msg === 'service closed').map((record) => record.service)).toEqual([
      'rediscovery',
      'tick loop',
      'ingest listeners',
      'metrics listener',
      'telemetry',
      'carbon accountant',
    ]);
    double.script({ driverVersion: '550.54.15', gpus: [{ uuid: fakeUuid(0), energyMillijoules: 1_000_000, powerMilliwatts: 300_000 }] });
    const rebound = await Promise.all(ports.map(listenOn));
    await Promise.all(rebound.map(closeServer));
  });
});

// `npm run bench`: footprint's /metrics latency against node_exporter's on the same RAPL fixture
// in the same run, and footprint's steady-state RSS and CPU at the default 2 s interval, on RAPL only
// and in Kubernetes mode with 110 pods.
// Prints a Markdown table to paste into docs/benchmarks.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchIngest } from './ingest.ts';
import { benchKubernetes } from './kubernetes.ts';
import { fakeUuid, nvmlDouble } from '../test/support/nvml-double.ts';
import { freePort } from '../test/support/prom-server.ts';
import { createSysfsFixture } from '../test/support/sysfs-fixture.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 30);
const CLOCK_TICKS_PER_SECOND = 100;

/** Polls every 10 ms until `url` answers; returns the milliseconds since `sinceMs` (performance.now()). */
async function waitFor(url: string, sinceMs = performance.now()): Promise<number> {
  for (let attempt = 0; attempt < 2000; attempt++) {
    try {
      if ((await fetch(url)).ok) return performance.now() - sinceMs;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${url} never answered`);
}

async function latencyMs(url: string): Promise<{ p50: number; p99: number; bytes: number }> {
  const samples: number[] = [];
  let bytes = 0;
  for (let index = 0; index < REQUESTS; index++) {
    const started = performance.now();
    bytes = (await (await fetch(url)).arrayBuffer()).byteLength;
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (quantile: number) => samples[Math.min(samples.length - 1, Math.floor(quantile * samples.length))]!;
  return { p50: at(0.5), p99: at(0.99), bytes };
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const fixture = createSysfsFixture();
fixture.setCpuVendor('GenuineIntel', 2);
fixture.addRaplZone('intel-rapl:0', { name: 'package-0', energyMicrojoules: 1_000_000 });
fixture.addRaplZone('intel-rapl:0:0', { name: 'dram', energyMicrojoules: 1_000_000 });
fixture.addRaplZone('intel-rapl:1', { name: 'package-1', energyMicrojoules: 1_000_000 });
fixture.addRaplZone('intel-rapl:1:0', { name: 'dram', energyMicrojoules: 1_000_000 });

const footprintPort = await freePort();
const exporterPort = await freePort();
const spawnedAtMs = performance.now();
// The built daemon, one process, as `npm start` and the image run it.
const footprint = spawn(
  process.execPath,
  [
    'bin/footprint.js',
    'start',
    '--host-root',
    fixture.root,
    '--listen',
    `127.0.0.1:${footprintPort}`,
    '--ingest-listen',
    '127.0.0.1:0',
    '--ingest-grpc-listen',
    '127.0.0.1:0',
    '--log-level',
    'warn',
  ],
  { stdio: 'ignore' },
);
const exporter = spawn(
  '/usr/bin/prometheus-node-exporter',
  [`--path.sysfs=${fixture.path('sys')}`, '--collector.disable-defaults', '--collector.rapl', `--web.listen-address=127.0.0.1:${exporterPort}`],
  { stdio: 'ignore' },
);
const footprintUrl = `http://127.0.0.1:${footprintPort}/metrics`;
const exporterUrl = `http://127.0.0.1:${exporterPort}/metrics`;
try {
  const [footprintStartMs, exporterStartMs] = await Promise.all([waitFor(footprintUrl, spawnedAtMs), waitFor(exporterUrl, spawnedAtMs)]);
  // Let the energy counters move so every series is present.
  let energy = 1_000_000;
  const mover = setInterval(() => {
    energy += 50_000_000;
    for (const zone of ['intel-rapl:0', 'intel-rapl:0:0', 'intel-rapl:1', 'intel-rapl:1:0']) fixture.setEnergy(zone, energy);
  }, 1000);
  await new Promise((resolve) => setTimeout(resolve, 3000));

  const ours = await latencyMs(footprintUrl);
  const theirs = await latencyMs(exporterUrl);

  const ticksBefore = cpuTicks(footprint.pid!);
  await new Promise((resolve) => setTimeout(resolve, STEADY_SECONDS * 1000));
  const cpuPercent = ((cpuTicks(footprint.pid!) - ticksBefore) / CLOCK_TICKS_PER_SECOND / STEADY_SECONDS) * 100;
  const rss = rssMiB(footprint.pid!);
  const exporterRss = rssMiB(exporter.pid!);
  const kubernetesRss = await benchKubernetes(fixture.root, await freePort(), STEADY_SECONDS, waitFor, latencyMs);
  clearInterval(mover);

  const f = (value: number, digits = 2) => value.toFixed(digits);
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, ${f(totalmem() / 2 ** 30, 1)} GiB, Node ${process.version}`);
  console.log(`requests per endpoint: ${REQUESTS}, steady-state window: ${STEADY_SECONDS}s at the default 2s interval\n`);
  console.log('| measure | footprint | node_exporter (rapl only) | ratio footprint/node_exporter |');
  console.log('|---|---|---|---|');
  console.log(`| /metrics p50 (ms) | ${f(ours.p50)} | ${f(theirs.p50)} | ${f(ours.p50 / theirs.p50)} |`);
  console.log(`| /metrics p99 (ms) | ${f(ours.p99)} | ${f(theirs.p99)} | ${f(ours.p99 / theirs.p99)} |`);
  console.log(`| response size (bytes) | ${ours.bytes} | ${theirs.bytes} | ${f(ours.bytes / theirs.bytes)} |`);
  console.log(`| start to first /metrics (ms) | ${f(footprintStartMs, 0)} | ${f(exporterStartMs, 0)} | ${f(footprintStartMs / exporterStartMs)} |`);
  console.log(`| steady RSS, RAPL only (MiB; goal <= 64) | ${f(rss, 1)} | ${f(exporterRss, 1)} | ${f(rss / exporterRss)} |`);
  console.log(
    `| steady RSS, Kubernetes mode, 110 pods (MiB; goal <= 96) | ${f(kubernetesRss, 1)} | ${f(exporterRss, 1)} | ${f(kubernetesRss / exporterRss)} |`,
  );
  console.log(`| steady CPU (% of one core) | ${f(cpuPercent)} | | |`);

  // 8 GPUs (NVML double, through the same koffi worker as the real library) + the 2 RAPL packages.
  const double = nvmlDouble({
    gpus: Array.from({ length: 8 }, (_, index) => ({ uuid: fakeUuid(index), energyMillijoules: 1_000_000, powerMilliwatts: 300_000 })),
  });
  const gpuPort = await freePort();
  const gpuDaemon = spawn(
    process.execPath,
    [
      'bin/footprint.js',
      'start',
      '--host-root',
      fixture.root,
      '--nvml-library',
      double.libraryPath,
      '--listen',
      `127.0.0.1:${gpuPort}`,
      '--ingest-listen',
      '127.0.0.1:0',
      '--ingest-grpc-listen',
      '127.0.0.1:0',
      '--interval',
      '500ms',
      '--log-level',
      'warn',
    ],
    { stdio: 'ignore', env: { ...process.env, ...double.env } },
  );
  try {
    const gpuUrl = `http://127.0.0.1:${gpuPort}/metrics`;
    await waitFor(gpuUrl);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const tickSeconds: number[] = [];
    for (let sample = 0; sample < 20; sample++) {
      const line = (await (await fetch(gpuUrl)).text()).split('\n').find((entry) => entry.startsWith('footprint_sample_duration_seconds '));
      tickSeconds.push(Number(line!.split(' ')[1]));
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    tickSeconds.sort((a, b) => a - b);
    const withGpus = await latencyMs(gpuUrl);
    console.log(`\n| 8 GPUs (NVML double) + 2 RAPL packages | footprint |`);
    console.log('|---|---|');
    console.log(`| sample tick p50 (ms), 20 ticks | ${f(tickSeconds[10]! * 1000)} |`);
    console.log(`| sample tick max (ms) | ${f(tickSeconds[19]! * 1000)} |`);
    console.log(`| /metrics p50 / p99 (ms) | ${f(withGpus.p50)} / ${f(withGpus.p99)} |`);
    console.log(`| response size (bytes) | ${withGpus.bytes} |`);
  } finally {
    await stop(gpuDaemon);
  }
  console.log(`\n${(await benchIngest(fixture.root, await freePort(), await freePort())).join('\n')}`);
} finally {
  await Promise.all([stop(footprint), stop(exporter)]);
  fixture.remove();
}

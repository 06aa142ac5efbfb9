// `npm run bench`: footprint's /metrics latency against node_exporter's on the same RAPL fixture
// in the same run, and footprint's steady-state RSS and CPU at the default 2 s interval, on RAPL only
// and in Kubernetes mode with 110 pods.
// Then the fleet benchmark (bench/fleet.ts) at BENCH_FLEET_NODES simulated nodes (default 100,1000).
// Prints a Markdown table to paste into docs/benchmarks.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchFleet } from './fleet.ts';
import { benchIngest } from './ingest.ts';
import { benchKubernetes } from './kubernetes.ts';
import { fakeUuid, nvmlDouble } from '../test/support/nvml-double.ts';
import { freePort } from '../test/support/prom-server.ts';
import { spawnDaemon } from '../test/support/daemon-process.ts';
import { sleep } from '../test/support/eventually.ts';
import { moveEnergy, rssMiB, twoSocketRaplFixture, IMAGE_ENV } from './support.ts';

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
    await sleep(10);
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

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const fixture = twoSocketRaplFixture();
const exporterPort = await freePort();
// The built daemon, one process, as `npm start` and the image run it; timed from its spawn to its first /metrics.
const footprint = await spawnDaemon({ hostRoot: fixture.root, logLevel: 'warn', readyTimeoutMs: 0, env: IMAGE_ENV });
const spawnedAtMs = performance.now();
const exporter = spawn(
  '/usr/bin/prometheus-node-exporter',
  [`--path.sysfs=${fixture.path('sys')}`, '--collector.disable-defaults', '--collector.rapl', `--web.listen-address=127.0.0.1:${exporterPort}`],
  { stdio: 'ignore' },
);
const footprintUrl = `${footprint.metricsUrl}/metrics`;
const exporterUrl = `http://127.0.0.1:${exporterPort}/metrics`;
try {
  const [footprintStartMs, exporterStartMs] = await Promise.all([waitFor(footprintUrl, spawnedAtMs), waitFor(exporterUrl, spawnedAtMs)]);
  // Let the energy counters move so every series is present.
  const mover = moveEnergy(fixture);
  await sleep(3000);

  const ours = await latencyMs(footprintUrl);
  const theirs = await latencyMs(exporterUrl);

  const ticksBefore = cpuTicks(footprint.pid);
  await sleep(STEADY_SECONDS * 1000);
  const cpuPercent = ((cpuTicks(footprint.pid) - ticksBefore) / CLOCK_TICKS_PER_SECOND / STEADY_SECONDS) * 100;
  const rss = rssMiB(footprint.pid);
  const exporterRss = rssMiB(exporter.pid!);
  const kubernetesRss = await benchKubernetes(fixture.root, STEADY_SECONDS, latencyMs);
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
  const gpuDaemon = await spawnDaemon({
    hostRoot: fixture.root,
    flags: ['--nvml-library', double.libraryPath, '--interval', '500ms'],
    env: double.env,
    logLevel: 'warn',
  });
  try {
    const gpuUrl = `${gpuDaemon.metricsUrl}/metrics`;
    await sleep(2000);
    const tickSeconds: number[] = [];
    for (let sample = 0; sample < 20; sample++) {
      const line = (await (await fetch(gpuUrl)).text()).split('\n').find((entry) => entry.startsWith('footprint_sample_duration_seconds '));
      tickSeconds.push(Number(line!.split(' ')[1]));
      await sleep(500);
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
    await gpuDaemon.stop();
  }
  console.log(`\n${(await benchIngest(fixture.root)).join('\n')}`);
} finally {
  await Promise.all([footprint.stop(), stop(exporter)]);
  fixture.remove();
}
const FLEET_NODES = (process.env.BENCH_FLEET_NODES ?? '100,1000').split(',').map(Number);
await benchFleet(FLEET_NODES);

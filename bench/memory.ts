// `npm run bench:memory`: the daemon's memory under span load. Starts it on a RAPL fixture with the
// default attribution lag (15 s) and horizon (10 m), sends 300 000 spans over 1 000 models as
// OTLP/HTTP protobuf bodies of 1 000 spans, and reports RSS and heap after a full GC: right after
// the last body (every span still waiting for its intervals to close) and after the lag settled them.
import { cpus } from 'node:os';
import { spawnDaemon } from '../test/support/daemon-process.ts';
import { sleep } from '../test/support/eventually.ts';
import { serverSpanBatch } from '../test/support/otlp-export.ts';
import { moveEnergy, twoSocketRaplFixture } from './support.ts';

const SPANS_PER_REQUEST = 1000;
const TOTAL_SPANS = Number(process.env.BENCH_TOTAL_SPANS ?? 300_000);
const MODELS = 1000;
const MiB = 2 ** 20;

interface MemoryUsage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** One protobuf body of vLLM-like SERVER spans, ended 100 ms before `nowMs`, models round-robin. */
function body(offset: number, nowMs: number): Uint8Array<ArrayBuffer> {
  // fetch takes a Uint8Array over a plain ArrayBuffer, which a Buffer's type does not promise.
  return new Uint8Array(
    serverSpanBatch({
      count: SPANS_PER_REQUEST,
      firstId: offset + 1,
      name: 'llm_request',
      endNs: BigInt(nowMs - 100) * 1_000_000n,
      durationNs: 400_000_000n,
      attributes: (index) => ({
        'ml.model': `model-${(offset + index) % MODELS}`,
        'ml.phase': 'inference',
        'gen_ai.usage.input_tokens': 12,
        'gen_ai.usage.output_tokens': 40,
      }),
      resource: { 'service.name': 'bench' },
    }),
  );
}

const fixture = twoSocketRaplFixture();
const nodeFlags = [
  '--expose-gc',
  '--import',
  process.env.BENCH_HOOK ?? './bench/memory-hook.mjs',
  ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
];
const daemon = await spawnDaemon({ hostRoot: fixture.root, nodeFlags, logLevel: 'warn' });
daemon.child.stderr!.pipe(process.stderr);

let stdout = '';
const waiting: Array<(usage: MemoryUsage) => void> = [];
daemon.child.stdout!.on('data', (chunk: Buffer) => {
  stdout += chunk.toString();
  for (let newline = stdout.indexOf('\n'); newline >= 0; newline = stdout.indexOf('\n')) {
    const line = stdout.slice(0, newline);
    stdout = stdout.slice(newline + 1);
    if (line.startsWith('{"memory"')) waiting.shift()?.((JSON.parse(line) as { memory: MemoryUsage }).memory);
    else process.stderr.write(`${line}\n`);
  }
});

function memoryAfterGc(): Promise<MemoryUsage> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    daemon.child.kill('SIGUSR2');
  });
}

const f = (bytes: number) => (bytes / MiB).toFixed(1);

try {
  const mover = moveEnergy(fixture);
  const idle = await memoryAfterGc();

  let throttled = 0;
  const started = performance.now();
  for (let sent = 0; sent < TOTAL_SPANS; ) {
    const response = await fetch(`${daemon.ingestUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: body(sent, Date.now()),
    });
    await response.arrayBuffer();
    if (response.status === 429) {
      throttled++;
      await sleep(50);
      continue;
    }
    if (response.status !== 200) throw new Error(`ingest answered ${response.status}`);
    sent += SPANS_PER_REQUEST;
  }
  const sendSeconds = (performance.now() - started) / 1000;
  const loaded = await memoryAfterGc();
  // Past the default 15 s lag plus two 2 s ticks, every span has settled.
  await sleep(20_000);
  const settled = await memoryAfterGc();
  clearInterval(mover);

  console.log(
    `machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, Node ${process.version}; ${TOTAL_SPANS.toLocaleString('en')} spans over ${MODELS} models in ${(TOTAL_SPANS / SPANS_PER_REQUEST).toLocaleString('en')} protobuf bodies, ${sendSeconds.toFixed(1)} s, ${throttled} answered 429; default lag and horizon\n`,
  );
  console.log('| after a full GC | RSS (MiB) | heap used (MiB) | heap total (MiB) | external (MiB) |');
  console.log('|---|---|---|---|---|');
  for (const [label, usage] of [
    ['idle', idle],
    ['after the last body (spans unsettled)', loaded],
    ['20 s later (spans settled)', settled],
  ] as const) {
    console.log(`| ${label} | ${f(usage.rss)} | ${f(usage.heapUsed)} | ${f(usage.heapTotal)} | ${f(usage.external)} |`);
  }
} finally {
  await daemon.stop();
  fixture.remove();
}

// The conservation property over the request rules of src/ingest/servers: random mixes of every
// server's shape (test/support/server-span-shapes.ts, llm-span-shapes.ts), at random times and
// overlaps, exported by the real OTel JS protobuf exporter, read by footprint's wire reader and
// readSpans, and split by the ledger over two devices' intervals. Every device joule is
// attributed exactly once; one request counts per HTTP request (none for start-up, none for a
// gateway in front of a local server); requests whose model is remote get no energy.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countsAsRequest, REMOTE_PHASE } from '../../src/attribution/activity.ts';
import { Ledger } from '../../src/attribution/ledger.ts';
import { readTraceRequestSync } from '../../src/ingest/otlp-wire.ts';
import { DEFAULT_SPAN_LIMITS } from '../../src/ingest/server.ts';
import { readSpans } from '../../src/ingest/spans.ts';
import { recordVllmRequest, type RequestTimes } from '../support/llm-span-shapes.ts';
import { catchExportBodies, type BodyCatcher } from '../support/otlp-body-catcher.ts';
import {
  recordLiteLlmProxy,
  recordRayServeRequest,
  recordSglangRequest,
  recordTgiChat,
  recordTritonInfer,
  recordVllmStartup,
} from '../support/server-span-shapes.ts';
import { ServingProcess } from '../support/serving-process.ts';

const KINDS = ['vllm', 'sglang', 'tgi', 'triton', 'ray', 'litellm-remote', 'litellm-local', 'vllm-startup'] as const;
type Kind = (typeof KINDS)[number];
/** Requests each kind counts: start-up none; a gateway in front of vLLM only vLLM's. */
const REQUESTS: Record<Kind, number> = { vllm: 1, sglang: 1, tgi: 1, triton: 1, ray: 1, 'litellm-remote': 1, 'litellm-local': 1, 'vllm-startup': 0 };
const DEVICES = ['GPU-a', 'GPU-b'];
const INTERVAL_MS = 200;
const SPAN_RANGE_MS = 8000;

let catcher: BodyCatcher;
beforeAll(async () => {
  catcher = await catchExportBodies();
});
afterAll(() => catcher.close());

/** Exports one request of `kind` at `times` through the processes that kind's server runs. */
async function serve(kind: Kind, times: RequestTimes): Promise<void> {
  const endpoints = { grpcAddress: '', url: catcher.url };
  const processes: ServingProcess[] = [];
  const process = (resource: Record<string, string>) => {
    const serving = new ServingProcess('http/protobuf', endpoints, resource);
    processes.push(serving);
    return serving;
  };
  const tokens = { prompt: 11, completion: 7 };
  if (kind === 'vllm') recordVllmRequest(process({ 'service.name': 'vllm-model' }).tracer('vllm.llm_engine'), times, tokens);
  else if (kind === 'sglang')
    recordSglangRequest(
      process({ 'service.name': 'sglang' }).tracer('sglang server'),
      process({ 'service.name': 'sglang' }).tracer('sglang server'),
      times,
      'qwen',
      tokens,
    );
  else if (kind === 'tgi') {
    const router = { 'service.name': 'text-generation-inference.router' };
    recordTgiChat(process(router).tracer('opentelemetry-otlp'), process(router).tracer('text_generation_server.tracing'), times, 2);
  } else if (kind === 'triton') recordTritonInfer(process({ 'service.name': 'triton-inference-server' }).tracer('triton-server'), times, 'densenet_onnx');
  else if (kind === 'ray') {
    const ray = { 'service.name': 'unknown_service' };
    recordRayServeRequest(process(ray).tracer('ray.serve'), process(ray).tracer('ray.serve'), times, {
      app: 'llm',
      deployment: 'LLMServer',
      multiplexedModelId: '',
    });
  } else if (kind === 'litellm-remote')
    recordLiteLlmProxy(process({ 'service.name': 'litellm' }).tracer('litellm'), times, { model: 'gpt-4o-mini', provider: 'openai', tokens });
  else if (kind === 'litellm-local') {
    recordLiteLlmProxy(process({ 'service.name': 'litellm' }).tracer('litellm'), times, { model: 'vllm-model', provider: 'hosted_vllm', tokens });
    recordVllmRequest(process({ 'service.name': 'vllm-model' }).tracer('vllm.tracing.otel'), { startMs: times.startMs + 1, endMs: times.endMs - 1 }, tokens);
  } else {
    const startup = { 'service.name': 'vllm.llm_engine', 'ml.model': 'vllm-model' };
    recordVllmStartup(process(startup), process(startup), process(startup), times);
  }
  await Promise.all(processes.map((serving) => serving.close()));
}

describe('server request rules (property)', () => {
  it('attribute every device joule once, count one request per HTTP request, and give remote models no energy', async () => {
    const requestArb = fc.record({
      kind: fc.constantFrom(...KINDS),
      startMs: fc.integer({ min: 0, max: SPAN_RANGE_MS - 300 }),
      lengthMs: fc.integer({ min: 300, max: 2000 }),
    });
    const wattsArb = fc.array(fc.double({ min: 0, max: 700, noNaN: true }), {
      minLength: 2 * (SPAN_RANGE_MS / INTERVAL_MS + 10),
      maxLength: 2 * (SPAN_RANGE_MS / INTERVAL_MS + 10),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { minLength: 1, maxLength: 6 }), wattsArb, async (requests, watts) => {
        const baseMs = Date.now() - 60_000;
        const ledger = new Ledger({ lagMs: 0, horizonMs: 0, providers: [] });
        const measuredJoules = new Map<string, number>();
        const intervals = SPAN_RANGE_MS / INTERVAL_MS + 10;
        DEVICES.forEach((deviceId, device) => {
          for (let index = 0; index < intervals; index++) {
            const energyJoules = (watts[device * intervals + index]! * INTERVAL_MS) / 1000;
            ledger.addInterval({ deviceId, startMs: baseMs + index * INTERVAL_MS, endMs: baseMs + (index + 1) * INTERVAL_MS, energyJoules });
            measuredJoules.set(deviceId, (measuredJoules.get(deviceId) ?? 0) + energyJoules);
          }
        });
        for (const { kind, startMs, lengthMs } of requests)
          await serve(kind, { startMs: baseMs + startMs, endMs: baseMs + Math.min(SPAN_RANGE_MS, startMs + lengthMs) });
        for (const body of catcher.bodies.splice(0)) {
          const batch = readSpans(readTraceRequestSync(body, DEFAULT_SPAN_LIMITS), { limits: DEFAULT_SPAN_LIMITS, weightByTokens: false, nowMs: Date.now() });
          ledger.addSpans(batch.counted);
        }
        const closed = ledger.close(baseMs + 10 * SPAN_RANGE_MS);

        for (const deviceId of DEVICES) {
          const attributed = closed.shares.filter((share) => share.deviceId === deviceId).reduce((sum, share) => sum + share.energyJoules, 0);
          const measured = measuredJoules.get(deviceId)!;
          expect(Math.abs(attributed - measured)).toBeLessThanOrEqual(1e-9 * Math.max(1, measured));
          expect(closed.unsettledJoules.get(deviceId)).toBe(0);
        }
        const counted = closed.requests.filter(({ request }) => countsAsRequest(request));
        expect(counted.length).toBe(requests.reduce((sum, { kind }) => sum + REQUESTS[kind], 0));
        const remote = counted.filter(({ request }) => request.workload.phase === REMOTE_PHASE);
        expect(remote.length).toBe(requests.filter(({ kind }) => kind === 'litellm-remote').length);
        for (const { energyJoules } of remote) expect(energyJoules).toBe(0);
        expect(closed.shares.filter((share) => share.workload.phase === REMOTE_PHASE)).toEqual([]);
        expect(closed.truncatedJoules).toBe(0);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});

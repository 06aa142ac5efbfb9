// Real OpenTelemetry clients end to end: a caller puts ml.* into W3C baggage, a serving process
// (a second Node process) extracts it, its BaggageSpanProcessor copies it onto spans, and its OTLP
// exporter (JSON or protobuf) sends them to the ingest listener.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ROOT_CONTEXT, defaultTextMapSetter, propagation } from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { afterEach, describe, expect, it } from 'vitest';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';

const SERVING_PROCESS = fileURLToPath(new URL('../support/ingest-serving-process.ts', import.meta.url));

async function startServingProcess(otlpUrl: string, exporter: 'json' | 'proto'): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVING_PROCESS], {
    env: { ...process.env, OTLP_URL: otlpUrl, EXPORTER: exporter },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [firstLine] = (await once(child.stdout!, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${firstLine.toString().trim()}`, child };
}

function baggageHeaders(entries: Record<string, string>): Record<string, string> {
  const baggage = propagation.createBaggage(Object.fromEntries(Object.entries(entries).map(([key, value]) => [key, { value }])));
  const headers: Record<string, string> = {};
  new W3CBaggagePropagator().inject(propagation.setBaggage(ROOT_CONTEXT, baggage), headers, defaultTextMapSetter);
  return headers;
}

describe.each(['json', 'proto'] as const)('spans from the OTLP %s exporter', (exporter) => {
  let ingest: IngestHarness | undefined;
  afterEach(async () => ingest?.close());

  it('become one activity and one request per served request, with baggage workload, resource devices and tokens', async () => {
    ingest = await startIngest();
    const serving = await startServingProcess(ingest.url, exporter);
    const before = Date.now();
    const served: { traceId?: string; spanId?: string }[] = [];
    const llama = baggageHeaders({ 'ml.model': 'llama-3-8b', 'ml.job': 'chat', 'ml.phase': 'Inference' });
    const mistral = baggageHeaders({ 'ml.model': 'mistral-7b', 'ml.job': 'batch', 'ml.phase': 'evaluation' });
    for (const [headers, input, output] of [
      [llama, 10, 20],
      [mistral, 3, 4],
      [llama, 5, 6],
    ] as const) {
      const response = await fetch(`${serving.url}/infer?input=${input}&output=${output}`, { headers });
      expect(await response.text()).toBe('ok');
      const [, traceId, spanId] = response.headers.get('traceresponse')!.split('-');
      served.push({ traceId, spanId });
    }
    await fetch(`${serving.url}/shutdown`, { method: 'POST' }).then((response) => response.text());
    await once(serving.child, 'exit');
    const after = Date.now();

    const { activities, requests } = ingest.sink;
    // The nested INTERNAL 'generate' spans are not counted a second time.
    expect(ingest.outcomes.get('accepted')).toBe(3);
    expect(ingest.outcomes.get('ignored')).toBe(3);
    const byModel = (model: string) => requests.filter((request) => request.workload.model === model);
    expect(requests.map((request) => request.workload)).toEqual([
      { model: 'llama-3-8b', job: 'chat', phase: 'inference', namespace: 'serving' },
      { model: 'mistral-7b', job: 'batch', phase: 'evaluation', namespace: 'serving' },
      { model: 'llama-3-8b', job: 'chat', phase: 'inference', namespace: 'serving' },
    ]);
    expect(byModel('llama-3-8b').map((request) => [request.inputTokens, request.outputTokens])).toEqual([
      [10, 20],
      [5, 6],
    ]);
    expect(byModel('mistral-7b').map((request) => [request.inputTokens, request.outputTokens])).toEqual([[3, 4]]);
    // Each request carries the ids of its SERVER span, for its exemplar and its footprint.energy span.
    expect(ingest.sink.requestIds).toEqual(served);
    expect(activities).toHaveLength(3);
    for (const [index, activity] of activities.entries()) {
      expect(activity).toMatchObject({ source: 'span', workload: requests[index]!.workload, deviceIds: ['GPU-0', 'GPU-1'], weight: 1 });
      expect(activity.startMs).toBeGreaterThanOrEqual(before - 1);
      expect(activity.endMs).toBeLessThanOrEqual(after + 1);
      expect(activity.endMs).toBeGreaterThanOrEqual(activity.startMs);
    }
  });
});

// Each inference server's spans as it ships (test/support/server-span-shapes.ts), sent by the real
// OTel JS exporter at the server's default protocol, with no footprint-specific setting on the
// server: one request per served request, under a workload label, with its tokens where the server
// records them; the server's own work (batch steps, shard RPCs, replica hops) and start-up are no
// requests. src/ingest/servers has one profile per server; this file has one test per profile.
import { afterEach, describe, expect, it } from 'vitest';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { callerContext, recordSglangRequest, recordTgiChat } from '../support/server-span-shapes.ts';
import { ServingProcess, type OtlpProtocol } from '../support/serving-process.ts';

const START_MS = Date.now() - 5000;
const TIMES = { startMs: START_MS, endMs: START_MS + 2400 };

let ingest: IngestHarness | undefined;
afterEach(async () => {
  await ingest?.close();
  ingest = undefined;
});

/** Runs `record` with one serving process per resource, all exporting to the ingest listeners. */
async function serve(protocol: OtlpProtocol, resources: Record<string, string | number>[], record: (processes: ServingProcess[]) => void): Promise<void> {
  ingest ??= await startIngest();
  const processes = resources.map((resource) => new ServingProcess(protocol, ingest!, resource));
  record(processes);
  await Promise.all(processes.map((process) => process.close()));
}

describe('inference servers as they ship', () => {
  it('TGI over gRPC: one request per chat_completions, none for batch-step traces or shard RPCs; the model is the service name', async () => {
    const router = { 'service.name': 'text-generation-inference.router' };
    // The launcher gives the shards the router's service name (launcher/src/main.rs); the Python SDK adds telemetry.sdk.*.
    const shard = { 'service.name': 'text-generation-inference.router', 'telemetry.sdk.language': 'python' };
    await serve('grpc', [router, shard], ([routerProcess, shardProcess]) =>
      recordTgiChat(routerProcess!.tracer('opentelemetry-otlp'), shardProcess!.tracer('text_generation_server.tracing'), TIMES, 4),
    );
    expect(ingest!.sink.requests).toEqual([{ workload: { model: 'text-generation-inference.router' }, ...TIMES }]);
    expect(ingest!.sink.activities).toEqual([{ source: 'span', workload: { model: 'text-generation-inference.router' }, ...TIMES, weight: 1 }]);
    // 5 spans in the request's trace + 4 steps x (4 router spans + 2 shard spans), one of them the request.
    expect(Object.fromEntries(ingest!.outcomes)).toEqual({ accepted: 1, ignored: 28 });
  });

  it('TGI renamed (--otlp-service-name) behind a caller: the INTERNAL handler span under a remote traceparent is still the one request', async () => {
    const renamed = { 'service.name': 'llama-3-8b' };
    await serve('grpc', [renamed, renamed], ([routerProcess, shardProcess]) =>
      recordTgiChat(
        routerProcess!.tracer('opentelemetry-otlp'),
        shardProcess!.tracer('text_generation_server.tracing'),
        TIMES,
        2,
        callerContext('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7'),
      ),
    );
    expect(ingest!.sink.requests).toEqual([{ workload: { model: 'llama-3-8b' }, ...TIMES }]);
    expect(Object.fromEntries(ingest!.outcomes)).toEqual({ accepted: 1, ignored: 16 });
  });

  it('SGLang over gRPC: the root Req span is the request, named by gen_ai.response.model, with its tokens; thread spans and slices are not', async () => {
    const resource = { 'service.name': 'sglang', 'telemetry.sdk.language': 'python' };
    await serve('grpc', [resource, resource], ([tokenizer, scheduler]) =>
      recordSglangRequest(tokenizer!.tracer('sglang server'), scheduler!.tracer('sglang server'), TIMES, 'Qwen/Qwen2.5-7B-Instruct', {
        prompt: 17,
        completion: 64,
      }),
    );
    expect(ingest!.sink.requests).toEqual([{ workload: { model: 'Qwen/Qwen2.5-7B-Instruct' }, ...TIMES, inputTokens: 17, outputTokens: 64 }]);
    expect(Object.fromEntries(ingest!.outcomes)).toEqual({ accepted: 1, ignored: 8 });
  });
});

// Each inference server's spans as it ships (test/support/server-span-shapes.ts), sent by the real
// OTel JS exporter at the server's default protocol, with no footprint-specific setting on the
// server: one request per served request, under a workload label, with its tokens where the server
// records them; the server's own work (batch steps, shard RPCs, replica hops) and start-up are no
// requests. src/ingest/servers has one profile per server; this file has one test per profile.
import { afterEach, describe, expect, it } from 'vitest';
import { countsAsRequest } from '../../src/attribution/activity.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { recordVllmRequest } from '../support/llm-span-shapes.ts';
import {
  callerContext,
  recordLiteLlmProxy,
  recordRayServeRequest,
  recordSglangRequest,
  recordTgiChat,
  recordTritonInfer,
  recordVllmStartup,
} from '../support/server-span-shapes.ts';
import { sendAsOtelCpp } from '../support/otel-cpp-json.ts';
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
    expect(ingest!.sink.activities).toEqual([
      { source: 'span', senderKey: '127.0.0.1', workload: { model: 'text-generation-inference.router' }, ...TIMES, weight: 1 },
    ]);
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

  it('Triton over OTLP/HTTP JSON as opentelemetry-cpp 1.13 writes it: InferRequest is the request, named by its model span; compute is not another', async () => {
    ingest = await startIngest();
    const triton = { 'service.name': 'triton-inference-server', 'telemetry.sdk.language': 'cpp', 'telemetry.sdk.version': '1.13.0' };
    await sendAsOtelCpp(ingest.url, triton, (process) => {
      recordTritonInfer(process.tracer('triton-server'), TIMES, 'densenet_onnx');
      recordTritonInfer(process.tracer('triton-server'), TIMES, 'resnet50', callerContext('5bf92f3577b34da6a3ce929d0e0e4736', '10f067aa0ba902b7'));
    });
    const requests = ingest.sink.requests.map((request) => request.workload.model).sort();
    expect(requests).toEqual(['densenet_onnx', 'resnet50']);
    expect(ingest.sink.activities.map(({ startMs, endMs }) => ({ startMs, endMs }))).toEqual([TIMES, TIMES]);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 2, ignored: 4 });
  });

  it('Ray Serve: the replica span is the request, named by the multiplexed model id, else the deployment; the proxy spans are not', async () => {
    // Ray's tracing hook builds its provider with the SDK's default resource: service.name unknown_service.
    const unnamed = { 'service.name': 'unknown_service', 'telemetry.sdk.language': 'python' };
    await serve('grpc', [unnamed, unnamed], ([proxy, replica]) => {
      const tracers = [proxy!.tracer('ray.serve._private.tracing_utils'), replica!.tracer('ray.serve._private.tracing_utils')] as const;
      recordRayServeRequest(...tracers, TIMES, { app: 'llm', deployment: 'LLMServer', multiplexedModelId: 'lora-sql-7' });
      recordRayServeRequest(...tracers, TIMES, { app: 'llm', deployment: 'LLMServer', multiplexedModelId: '' });
    });
    expect(ingest!.sink.requests.map((request) => request.workload.model).sort()).toEqual(['LLMServer', 'lora-sql-7']);
    expect(ingest!.sink.activities.map(({ startMs, endMs }) => endMs - startMs)).toEqual([TIMES.endMs - TIMES.startMs - 8, TIMES.endMs - TIMES.startMs - 8]);
    expect(Object.fromEntries(ingest!.outcomes)).toEqual({ accepted: 2, ignored: 4 });
  });

  it('LiteLLM in front of a hosted API: a remote request with its tokens and no device; in front of vLLM: nothing of its own, vLLM counts', async () => {
    const tokens = { prompt: 21, completion: 9 };
    const litellm = { 'service.name': 'litellm', 'deployment.environment': 'production', model_id: 'litellm' };
    await serve('http/protobuf', [litellm], ([proxy]) =>
      recordLiteLlmProxy(proxy!.tracer('litellm'), TIMES, { model: 'gpt-4o-mini', provider: 'openai', tokens }),
    );
    const remote = { model: 'gpt-4o-mini', phase: 'remote' };
    expect(ingest!.sink.requests).toEqual([{ workload: remote, ...TIMES, inputTokens: 21, outputTokens: 9, operation: 'chat', deviceIds: [] }]);
    expect(ingest!.sink.activities).toEqual([{ source: 'span', senderKey: '127.0.0.1', workload: remote, ...TIMES, weight: 1, deviceIds: [] }]);

    // `hosted_vllm/<model>` in LiteLLM's config; vLLM's own span is the request (with
    // forward_traceparent_to_llm_provider both are children of the caller's span).
    const caller = callerContext('6bf92f3577b34da6a3ce929d0e0e4736', '20f067aa0ba902b7');
    const model = 'meta-llama/Llama-3.1-8B-Instruct';
    await serve('http/protobuf', [litellm, { 'service.name': 'vllm.llm_engine', 'ml.model': model }], ([proxy, vllm]) => {
      recordLiteLlmProxy(proxy!.tracer('litellm'), TIMES, { model, provider: 'hosted_vllm', tokens });
      recordVllmRequest(vllm!.tracer('vllm.tracing.otel'), { startMs: TIMES.startMs + 5, endMs: TIMES.endMs - 5 }, tokens, caller);
    });
    expect(ingest!.sink.requests.slice(1)).toEqual([
      { workload: { model }, startMs: TIMES.startMs + 5, endMs: TIMES.endMs - 5, inputTokens: 21, outputTokens: 9 },
    ]);
  });

  it('vLLM start-up: loading spans of the API server, engine core and worker take energy in phase load and are no requests', async () => {
    const model = 'meta-llama/Llama-3.1-8B-Instruct';
    // OTEL_RESOURCE_ATTRIBUTES=ml.model=... reaches every process (newer vLLM names each service after its module).
    const processes = ['vllm.llm_engine', 'vllm.engine_core', 'vllm.worker'].map((service) => ({ 'service.name': service, 'ml.model': model }));
    await serve('grpc', processes, ([apiServer, engineCore, worker]) => recordVllmStartup(apiServer!, engineCore!, worker!, TIMES));
    const byStart = [...ingest!.sink.activities].sort((a, b) => a.startMs - b.startMs);
    const load = { model, phase: 'load' };
    expect(byStart).toEqual([
      { source: 'span', senderKey: '127.0.0.1', workload: load, startMs: TIMES.startMs, endMs: TIMES.endMs, weight: 1 },
      { source: 'span', senderKey: '127.0.0.1', workload: load, startMs: TIMES.startMs + 40, endMs: TIMES.endMs - 20, weight: 1 },
      { source: 'span', senderKey: '127.0.0.1', workload: load, startMs: TIMES.startMs + 60, endMs: TIMES.endMs - 30, weight: 1 },
    ]);
    expect(ingest!.sink.requests.filter(countsAsRequest)).toEqual([]);
  });
});

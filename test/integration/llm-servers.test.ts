// End to end for every inference server as it ships: each server's spans (test/support/
// llm-span-shapes.ts, server-span-shapes.ts) sent by the real OTel JS exporter at the server's
// default protocol, with no footprint-specific setting on the server, to a daemon on a
// constant-power GPU. Each request gets its span seconds x watts under a workload label and counts
// once; overlapping requests split the overlap; a gateway's hosted model takes no energy here; a
// gateway in front of vLLM counts once, under vLLM; start-up takes energy in phase load, no request.
import type { Tracer } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { sampleSum } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { recordFastApiChat, recordVllmRequest, type RequestTimes } from '../support/llm-span-shapes.ts';
import {
  recordLiteLlmProxy,
  recordRayServeRequest,
  recordSglangRequest,
  recordTgiChat,
  recordTritonInfer,
  recordVllmStartup,
} from '../support/server-span-shapes.ts';
import { sendAsOtelCpp } from '../support/otel-cpp-json.ts';
import { ServingProcess, type OtlpProtocol } from '../support/serving-process.ts';
import { daemonSuite } from '../support/suite.ts';

const POWER_WATTS = 100;
const GPU_ID = '0x6d2a1f0e9b3c4d5e';
const LAG_MS = 9000;
/** The first spans start this long before the test sends them, after the daemon has measured for longer. */
const SCENARIO_MS = 6500;

describe('every inference server as it ships gets the energy it used, once', () => {
  const suite = daemonSuite({
    host: (fixture) => {
      fixture.setCpuVendor('GenuineIntel', 2);
      fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: GPU_ID });
    },
    flags: { attributionLag: `${LAG_MS}ms` },
  });

  it('TGI, SGLang, Triton, Ray Serve, vLLM, FastAPI, LiteLLM and vLLM start-up on one node', async () => {
    const { daemon } = suite;
    await sleep(SCENARIO_MS + 1000);
    const baseMs = Date.now() - SCENARIO_MS;
    const at = (fromMs: number, toMs: number): RequestTimes => ({ startMs: baseMs + fromMs, endMs: baseMs + toMs });
    const endpoints = { grpcAddress: `127.0.0.1:${daemon.grpcPort}`, url: daemon.ingestUrl };
    const processes: ServingProcess[] = [];
    const process = (protocol: OtlpProtocol, resource: Record<string, string>) => {
      const serving = new ServingProcess(protocol, endpoints, resource);
      processes.push(serving);
      return serving;
    };
    const tracer = (protocol: OtlpProtocol, resource: Record<string, string>, scope: string): Tracer => process(protocol, resource).tracer(scope);

    // TGI (gRPC, its default service name) alone, then two concurrent requests of a renamed TGI.
    const tgiRouter = { 'service.name': 'text-generation-inference.router' };
    recordTgiChat(tracer('grpc', tgiRouter, 'opentelemetry-otlp'), tracer('grpc', tgiRouter, 'text_generation_server.tracing'), at(0, 500), 4);
    const pair = { 'service.name': 'tgi-pair' };
    const pairRouter = tracer('grpc', pair, 'opentelemetry-otlp');
    const pairShard = tracer('grpc', pair, 'text_generation_server.tracing');
    recordTgiChat(pairRouter, pairShard, at(2400, 2800), 2);
    recordTgiChat(pairRouter, pairShard, at(2600, 3000), 2);
    // SGLang (gRPC): tokenizer and scheduler processes.
    const sglang = { 'service.name': 'sglang' };
    recordSglangRequest(tracer('grpc', sglang, 'sglang server'), tracer('grpc', sglang, 'sglang server'), at(600, 1100), 'Qwen/Qwen2.5-7B-Instruct', {
      prompt: 17,
      completion: 64,
    });
    // Triton (OTLP/HTTP JSON as opentelemetry-cpp 1.13 writes it) alone, then beside a vLLM server.
    const tritonSent = sendAsOtelCpp(daemon.ingestUrl, { 'service.name': 'triton-inference-server', 'telemetry.sdk.language': 'cpp' }, (triton) => {
      recordTritonInfer(triton.tracer('triton-server'), at(1200, 1700), 'densenet_onnx');
      recordTritonInfer(triton.tracer('triton-server'), at(3300, 3700), 'resnet50');
    });
    recordVllmRequest(tracer('grpc', { 'service.name': 'vllm-neighbour' }, 'vllm.llm_engine'), at(3100, 3500), { prompt: 5, completion: 50 });
    // Ray Serve (the tracing hook's exporter; OTLP/HTTP protobuf, the usual choice): proxy and replica processes, unknown_service.
    const ray = { 'service.name': 'unknown_service' };
    recordRayServeRequest(
      tracer('http/protobuf', ray, 'ray.serve._private.tracing_utils'),
      tracer('http/protobuf', ray, 'ray.serve._private.tracing_utils'),
      at(1800, 2300),
      {
        app: 'llm',
        deployment: 'LLMServer',
        multiplexedModelId: 'lora-sql-7',
      },
    );
    // LiteLLM (HTTP protobuf) in front of OpenAI, then in front of a vLLM on this node.
    const litellm = { 'service.name': 'litellm' };
    const tokens = { prompt: 21, completion: 9 };
    recordLiteLlmProxy(tracer('http/protobuf', litellm, 'litellm'), at(3800, 4200), { model: 'gpt-4o-mini', provider: 'openai', tokens });
    recordLiteLlmProxy(tracer('http/protobuf', litellm, 'litellm'), at(4300, 4700), { model: 'vllm-upstream', provider: 'hosted_vllm', tokens });
    recordVllmRequest(tracer('grpc', { 'service.name': 'vllm-upstream' }, 'vllm.tracing.otel'), at(4305, 4695), tokens);
    // vLLM start-up across its API server, engine core and worker processes, before serving.
    const startup = (service: string) => process('grpc', { 'service.name': service, 'ml.model': 'vllm-startup' });
    recordVllmStartup(startup('vllm.llm_engine'), startup('vllm.engine_core'), startup('vllm.worker'), at(4800, 5400));
    // A FastAPI app with an in-process model (HTTP protobuf).
    recordFastApiChat(tracer('http/protobuf', { 'service.name': 'chat-app' }, 'opentelemetry.instrumentation.fastapi'), at(5500, 6000), 'Qwen/Qwen2.5-0.5B', {
      input: 40,
      output: 12,
    });
    await Promise.all([...processes.map((serving) => serving.close()), tritonSent]);

    const closedAtMs = baseMs + SCENARIO_MS + LAG_MS + 1500;
    const exposition = await eventually(async () => (Date.now() > closedAtMs ? daemon.scrape() : undefined), 30_000, 'intervals closed');
    const joules = (model: string, phase?: string) =>
      sampleSum(exposition, 'ml_energy_joules_total', { hw_id: GPU_ID, ml_model: model, ...(phase && { ml_phase: phase }) });
    const requests = (model: string, phase?: string) => sampleSum(exposition, 'ml_requests_total', { ml_model: model, ...(phase && { ml_phase: phase }) });
    const watts = (seconds: number) => seconds * POWER_WATTS;
    const within2Percent = (actual: number, expected: number) =>
      expect(Math.abs(actual - expected) / expected, `${actual} J against ${expected} J`).toBeLessThan(0.02);

    // Alone: span seconds x watts, one request per HTTP request.
    within2Percent(joules('text-generation-inference.router'), watts(0.5));
    expect(requests('text-generation-inference.router')).toBe(1);
    within2Percent(joules('Qwen/Qwen2.5-7B-Instruct'), watts(0.5));
    expect(requests('Qwen/Qwen2.5-7B-Instruct')).toBe(1);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: 'Qwen/Qwen2.5-7B-Instruct' })).toBe(81);
    within2Percent(joules('densenet_onnx'), watts(0.5));
    expect(requests('densenet_onnx')).toBe(1);
    // Ray: the replica's span (4 ms inside the proxy's at each end), under the multiplexed model id.
    within2Percent(joules('lora-sql-7'), watts(0.492));
    expect(requests('lora-sql-7')).toBe(1);
    within2Percent(joules('Qwen/Qwen2.5-0.5B'), watts(0.5));
    expect(requests('Qwen/Qwen2.5-0.5B')).toBe(1);

    // Two concurrent TGI requests share their 0.2 s overlap: 0.3 s each, 0.6 s in all.
    within2Percent(joules('tgi-pair'), watts(0.6));
    expect(requests('tgi-pair')).toBe(2);
    // Each request's energy (all devices: the GPU and the estimated CPU) adds up to the model's.
    const pairJoules = sampleSum(exposition, 'ml_energy_joules_total', { ml_model: 'tgi-pair' });
    expect(Math.abs(sampleSum(exposition, 'ml_request_energy_joules_sum', { ml_model: 'tgi-pair' }) - pairJoules)).toBeLessThan(1e-9 * pairJoules);
    // Neighbouring vLLM and Triton share their 0.2 s overlap.
    within2Percent(joules('vllm-neighbour'), watts(0.3));
    within2Percent(joules('resnet50'), watts(0.3));

    // LiteLLM in front of OpenAI: a remote request, with its tokens, and none of this node's energy.
    expect(joules('gpt-4o-mini')).toBeLessThanOrEqual(0.05 * watts(0.4));
    expect(requests('gpt-4o-mini', 'remote')).toBe(1);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: 'gpt-4o-mini', ml_phase: 'remote' })).toBe(30);
    // In front of vLLM: one request, its tokens once, all of its energy under vLLM's label.
    within2Percent(joules('vllm-upstream'), watts(0.39));
    expect(requests('vllm-upstream')).toBe(1);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: 'vllm-upstream' })).toBe(30);

    // vLLM start-up: its 0.6 s in phase load, no request.
    within2Percent(joules('vllm-startup', 'load'), watts(0.6));
    expect(requests('vllm-startup')).toBe(0);

    // Every joule once: attributed + unsettled is the GPU's energy.
    const gpuJoules = sampleSum(exposition, 'hw_energy_joules_total', { hw_id: GPU_ID });
    const attributed = sampleSum(exposition, 'ml_energy_joules_total', { hw_id: GPU_ID });
    const unsettled = sampleSum(exposition, 'footprint_attribution_unsettled_energy_joules', { hw_id: GPU_ID });
    expect(Math.abs(attributed + unsettled - gpuJoules)).toBeLessThan(1e-6 * gpuJoules);
  });
});

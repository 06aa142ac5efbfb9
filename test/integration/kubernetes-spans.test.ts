// Kubernetes mode: a span that names no model takes the model label of the pod that sent it: the
// pod whose status.podIP the connection comes from, else (from an address that is no pod's, as a
// host-network process's) the pod the resource names by k8s.pod.uid (or namespace + name), as the
// Collector's k8sattributes processor finds it. The pods come from a loopback API server; the vLLM
// pod's IP is 127.0.0.2, which its OTLP/HTTP exporter binds to; the node's process sends over gRPC
// from 127.0.0.1. (A pod naming another pod: kubernetes-trust.test.ts.)
import { join } from 'node:path';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podResourcesSocketPath } from '../../src/attribution/kubernetes/pod-resources.ts';
import { startFakeApiServer, type ApiPod, type FakeApiServer } from '../support/k8s-api-server.ts';
import { startFakeKubelet, type FakeKubelet } from '../support/k8s-kubelet.ts';
import { recordVllmRequest, type RequestTimes } from '../support/llm-span-shapes.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';
import { sampleSum, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';

const NODE = 'gpu-node-1';
const POWER_WATTS = 100;
const GPU_ID = '0x6d2a1f0e9b3c4d5e';
const LAG_MS = 4000;
const BY_IP_UID = '44444444-dddd-4ddd-8ddd-444444444444';
const BY_UID_UID = '55555555-eeee-4eee-8eee-555555555555';
/** The vLLM pod's IP: a loopback address its exporter binds to. */
const POD_IP = '127.0.0.2';

function pod(name: string, uid: string, model: string, podIP: string): ApiPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'serving', name, uid, labels: { 'footprint.dev/model': model } },
    spec: { nodeName: NODE, containers: [{ name: 'vllm' }] },
    status: { podIP, podIPs: [{ ip: podIP }] },
  };
}

describe('spans from pods in Kubernetes mode', () => {
  let fixture: SysfsFixture;
  let api: FakeApiServer;
  let kubelet: FakeKubelet;
  let daemon: TestDaemon;

  beforeAll(async () => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 2);
    fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: GPU_ID });
    api = await startFakeApiServer([pod('vllm-0', BY_IP_UID, 'llama-3-8b', POD_IP), pod('vllm-1', BY_UID_UID, 'mistral-7b', '10.244.1.7')]);
    kubelet = await startFakeKubelet(podResourcesSocketPath(fixture.root), []);
    const kubeconfig = join(fixture.root, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    // The daemon reads $KUBECONFIG once, at start ($KUBECONFIG before ~/.kube/config and the in-cluster service account).
    const previous = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kubeconfig;
    try {
      daemon = await startTestDaemon({ hostRoot: fixture.root, kubernetes: true, nodeName: NODE, attributionLag: `${LAG_MS}ms` });
    } finally {
      if (previous === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = previous;
    }
  });

  afterAll(async () => {
    await daemon?.close();
    await kubelet?.stop();
    await api?.close();
    fixture?.remove();
  });

  /** One vLLM request: from the pod over OTLP/HTTP (its socket bound to the pod's IP), or from the node over gRPC. */
  async function sendVllm(from: 'pod' | 'node', resource: Record<string, string>, times: RequestTimes): Promise<void> {
    const exporter =
      from === 'pod'
        ? new ProtoExporter({ url: `${daemon.ingestUrl}/v1/traces`, httpAgentOptions: { localAddress: POD_IP } })
        : new GrpcExporter({ url: `http://127.0.0.1:${daemon.grpcPort}` });
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'vllm', ...resource }),
      spanProcessors: [new BatchSpanProcessor(exporter)],
    });
    recordVllmRequest(provider.getTracer('vllm.llm_engine'), times, { prompt: 8, completion: 64 });
    await provider.forceFlush();
    await provider.shutdown();
  }

  it("names the model by the sending pod's label: by peer IP, and from the node's address by k8s.pod.uid", async () => {
    await sleep(1500);
    const nowMs = Date.now();
    const byIp = { startMs: nowMs - 1300, endMs: nowMs - 700 };
    const byUid = { startMs: nowMs - 600, endMs: nowMs - 200 };
    await sendVllm('pod', {}, byIp);
    await sendVllm('node', { 'k8s.pod.uid': BY_UID_UID }, byUid);

    const exposition = await eventually(async () => (Date.now() > nowMs + LAG_MS + 1000 ? daemon.scrape() : undefined), 20_000, 'intervals closed');
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: 'llama-3-8b' })).toBe(1);
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: 'mistral-7b' })).toBe(1);
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: 'vllm' })).toBe(0);
    for (const [model, times] of [
      ['llama-3-8b', byIp],
      ['mistral-7b', byUid],
    ] as const) {
      const expectedJoules = ((times.endMs - times.startMs) / 1000) * POWER_WATTS;
      expect(Math.abs(sampleSum(exposition, 'ml_energy_joules_total', { hw_id: GPU_ID, ml_model: model }) - expectedJoules) / expectedJoules).toBeLessThan(
        0.02,
      );
      expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: model })).toBe(72);
    }
  });
});

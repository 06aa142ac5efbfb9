// The trust boundary in Kubernetes mode (docs/security.md): a pod is known by the IP its export
// comes from, which it cannot choose, not by the k8s.* attributes it writes. An attacker pod naming
// a victim pod (k8s.pod.uid, namespace + name) and the victim's GPU (hw.id) gets its spans counted
// under itself, on its own GPU, and as `spoofed`; the victim's series get nothing. Senders at
// addresses no pod has (host network, the node) and pods of a trusted forwarder namespace (a
// node-local Collector) still name the pod they speak for. Pods are served by a loopback API
// server with loopback IPs (127.0.0.2...), so each client binds its socket to its pod's address.
import { Agent } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podResourcesSocketPath } from '../../src/attribution/kubernetes/pod-resources.ts';
import { ExportTraceServiceResponse } from '../../src/ingest/otlp-schema.ts';
import { startFakeApiServer, type ApiPod, type FakeApiServer } from '../support/k8s-api-server.ts';
import { podWithDevices, startFakeKubelet, type FakeKubelet } from '../support/k8s-kubelet.ts';
import { httpExport, serverSpanBatch } from '../support/otlp-export.ts';
import { createSysfsFixture, type SysfsFixture } from '../support/sysfs-fixture.ts';
import { sampleSum, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { eventually, sleep } from '../support/eventually.ts';
import { windowRequest } from '../support/window-request.ts';

const NODE = 'gpu-node-1';
const POWER_WATTS = 100;
const ATTACKER_GPU = '0x1111aaaa2222bbbb';
const VICTIM_GPU = '0x3333cccc4444dddd';
const LAG_MS = 4000;
const SPAN_MS = 400;
const TOKENS = { input: 40, output: 60 };

interface TestPod {
  namespace: string;
  name: string;
  uid: string;
  ip: string;
  model: string;
}

const ATTACKER: TestPod = { namespace: 'team-a', name: 'attacker', uid: 'aaaaaaaa-1111-4111-8111-111111111111', ip: '127.0.0.2', model: 'attacker-model' };
const VICTIM: TestPod = { namespace: 'team-b', name: 'victim', uid: 'bbbbbbbb-2222-4222-8222-222222222222', ip: '127.0.0.3', model: 'victim-model' };
/** A node-local Collector, in the namespace the daemon trusts to forward other pods' spans. */
const FORWARDER: TestPod = { namespace: 'observability', name: 'otel-agent', uid: 'cccccccc-3333-4333-8333-333333333333', ip: '127.0.0.4', model: 'collector' };
/** A CPU-only pod that sends through the forwarder and a host-network process (it never connects itself). */
const WORKER: TestPod = { namespace: 'team-c', name: 'worker', uid: 'dddddddd-4444-4444-8444-444444444444', ip: '10.244.9.9', model: 'worker-model' };
/** A host-network process: the node's address, which no pod's status.podIPs lists. */
const HOST_ADDRESS = '127.0.0.1';

function apiPod({ namespace, name, uid, ip, model }: TestPod): ApiPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, uid, labels: { 'footprint.dev/model': model } },
    spec: { nodeName: NODE, containers: [{ name: 'main' }] },
    status: { podIP: ip, podIPs: [{ ip }] },
  };
}

/** What the attacker's resource claims: to be the victim pod. */
const VICTIM_CLAIM = { 'k8s.namespace.name': VICTIM.namespace, 'k8s.pod.name': VICTIM.name, 'k8s.pod.uid': VICTIM.uid };

describe('the Kubernetes trust boundary: a pod is its peer IP', () => {
  let fixture: SysfsFixture;
  let api: FakeApiServer;
  let kubelet: FakeKubelet;
  let daemon: TestDaemon;
  const agents: Agent[] = [];

  beforeAll(async () => {
    fixture = createSysfsFixture();
    fixture.setCpuVendor('GenuineIntel', 2);
    fixture.addAmdGpu('card0', '0000:c1:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: ATTACKER_GPU });
    fixture.addAmdGpu('card1', '0000:c2:00.0', { powerMicrowatts: POWER_WATTS * 1_000_000, uniqueId: VICTIM_GPU });
    api = await startFakeApiServer([ATTACKER, VICTIM, FORWARDER, WORKER].map(apiPod));
    kubelet = await startFakeKubelet(podResourcesSocketPath(fixture.root), [
      podWithDevices(ATTACKER.namespace, ATTACKER.name, 'amd.com/gpu', [ATTACKER_GPU]),
      podWithDevices(VICTIM.namespace, VICTIM.name, 'amd.com/gpu', [VICTIM_GPU]),
    ]);
    const kubeconfig = join(fixture.root, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
    // The daemon reads $KUBECONFIG once, at start.
    const previous = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kubeconfig;
    try {
      daemon = await startTestDaemon({
        hostRoot: fixture.root,
        kubernetes: true,
        nodeName: NODE,
        attributionLag: `${LAG_MS}ms`,
        trustedForwarderNamespaces: FORWARDER.namespace,
        // The pod a span is charged to is what this test checks: its series carry k8s_pod_name.
        podSeries: true,
      });
    } finally {
      if (previous === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = previous;
    }
  });

  afterAll(async () => {
    for (const agent of agents) agent.destroy();
    await daemon?.close();
    await kubelet?.stop();
    await api?.close();
    fixture?.remove();
  });

  /** One OTLP/HTTP protobuf export of `count` vLLM-like SERVER spans from `localAddress`; the decoded answer. */
  async function exportFrom(localAddress: string, resource: Record<string, string>, span: Record<string, string | number>, count: number, endMs: number) {
    const agent = new Agent({ keepAlive: true, localAddress });
    agents.push(agent);
    const body = serverSpanBatch({
      count,
      name: 'llm_request',
      // Back to back: span i ends where span i + 1 starts.
      endNs: BigInt(endMs) * 1_000_000n,
      durationNs: BigInt(SPAN_MS) * 1_000_000n,
      attributes: (index) => ({ ...span, 'gen_ai.usage.input_tokens': TOKENS.input, 'gen_ai.usage.output_tokens': TOKENS.output, index }),
      resource: { 'service.name': 'vllm', ...resource },
    });
    const { status, answer } = await httpExport(agent, daemon.ingestPort, body);
    expect(status).toBe(200);
    return ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(answer), { longs: Number }) as {
      partialSuccess?: { rejectedSpans?: number; errorMessage?: string };
    };
  }

  it("counts an attacker pod's spans naming the victim pod and GPU under the attacker, on its own GPU, as spoofed", async () => {
    await sleep(3000);
    const nowMs = Date.now();
    // Two attacker spans (each of its own trace), non-overlapping: 800 ms of GPU time in all.
    const spoofed = await exportFrom(ATTACKER.ip, VICTIM_CLAIM, { 'hw.id': VICTIM_GPU }, 1, nowMs - 900);
    await exportFrom(ATTACKER.ip, VICTIM_CLAIM, { 'hw.id': VICTIM_GPU, 'k8s.pod.name': VICTIM.name }, 1, nowMs - 400);
    // Senders the daemon believes: a host-network process and the trusted forwarder, each for the worker
    // pod, before the attacker's spans (the host's span names no pod's devices, so it runs on all of them).
    const trusted = await exportFrom(HOST_ADDRESS, { 'k8s.pod.uid': WORKER.uid }, {}, 1, nowMs - 2400);
    await exportFrom(FORWARDER.ip, { 'k8s.namespace.name': WORKER.namespace, 'k8s.pod.name': WORKER.name }, {}, 1, nowMs - 1900);

    // Counted, so not rejected; the warning tells the sender its claim was overruled.
    expect(spoofed.partialSuccess?.rejectedSpans ?? 0).toBe(0);
    expect(spoofed.partialSuccess?.errorMessage).toBe('1 spans named another pod or its GPU; they count under the pod that sent them');
    expect(trusted.partialSuccess).toBeUndefined();

    const exposition = await eventually(async () => (Date.now() > nowMs + LAG_MS + 1000 ? daemon.scrape() : undefined), 20_000, 'intervals closed');
    const attacker = { k8s_namespace_name: ATTACKER.namespace, k8s_pod_name: ATTACKER.name };
    expect(sampleSum(exposition, 'footprint_ingest_spans_total', { outcome: 'spoofed' })).toBe(2);
    expect(sampleSum(exposition, 'footprint_ingest_spans_total', { outcome: 'accepted' })).toBe(2);

    // The victim served nothing: no request or token under its model, and on its GPU no span's energy
    // under its pod (only its ownership's, whose job is the pod) and none under the attacker's model.
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: VICTIM.model })).toBe(0);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: VICTIM.model })).toBe(0);
    expect(sampleSum(exposition, 'ml_energy_joules_total', { hw_id: VICTIM_GPU, k8s_pod_name: VICTIM.name, ml_job: '' })).toBe(0);
    expect(sampleSum(exposition, 'ml_energy_joules_total', { hw_id: VICTIM_GPU, ml_model: ATTACKER.model })).toBe(0);

    // The attacker's spans: its requests, tokens and model label, and 0.8 s x 100 W on its own GPU.
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: ATTACKER.model })).toBe(2);
    expect(sampleSum(exposition, 'ml_tokens_total', { ml_model: ATTACKER.model })).toBe(2 * (TOKENS.input + TOKENS.output));
    const expectedJoules = ((2 * SPAN_MS) / 1000) * POWER_WATTS;
    const attackerJoules = sampleSum(exposition, 'ml_energy_joules_total', { ...attacker, hw_id: ATTACKER_GPU, ml_model: ATTACKER.model, ml_job: '' });
    expect(Math.abs(attackerJoules - expectedJoules) / expectedJoules).toBeLessThan(0.02);

    // The believed senders name the worker pod: its model label, not the forwarder's.
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: WORKER.model })).toBe(2);
    expect(sampleSum(exposition, 'ml_requests_total', { ml_model: FORWARDER.model })).toBe(0);
  });

  it("confines a window the attacker opens for the victim pod and GPU to the attacker's pod and GPU", async () => {
    const opened = await windowRequest({
      ingestUrl: daemon.ingestUrl,
      method: 'POST',
      path: '/v1/windows',
      localAddress: ATTACKER.ip,
      baggage: `ml.job=stolen-training,k8s.namespace.name=${VICTIM.namespace},k8s.pod.name=${VICTIM.name}`,
      body: { 'hw.id': [VICTIM_GPU] },
    });
    expect(opened.status).toBe(201);
    const openedMs = Date.parse(opened.json.segmentStart as string);
    await sleep(1000);
    const closed = await windowRequest({ ingestUrl: daemon.ingestUrl, method: 'DELETE', path: `/v1/windows/${opened.json.id}`, localAddress: ATTACKER.ip });
    const closedMs = Date.now();
    expect(closed.status).toBe(204);

    const exposition = await eventually(async () => (Date.now() > closedMs + LAG_MS + 1000 ? daemon.scrape() : undefined), 20_000, 'intervals closed');
    const stolen = { ml_job: 'stolen-training' };
    expect(sampleSum(exposition, 'ml_energy_joules_total', { ...stolen, k8s_pod_name: VICTIM.name })).toBe(0);
    expect(sampleSum(exposition, 'ml_energy_joules_total', { ...stolen, hw_id: VICTIM_GPU })).toBe(0);
    // The window's time on the attacker's GPU, within the 200 ms the DELETE's round trip can add.
    const windowJoules = sampleSum(exposition, 'ml_energy_joules_total', { ...stolen, k8s_pod_name: ATTACKER.name, hw_id: ATTACKER_GPU });
    const expectedJoules = ((closedMs - openedMs) / 1000) * POWER_WATTS;
    expect(windowJoules).toBeLessThanOrEqual(expectedJoules * 1.02);
    expect(windowJoules).toBeGreaterThanOrEqual(expectedJoules - 0.2 * POWER_WATTS);
  });
});

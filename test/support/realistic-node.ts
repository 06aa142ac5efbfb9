// The realistic node of docs/architecture.md "How it scales": the standard two-socket host, 8 H100
// boards through the NVML double, and 30 pods serving 20 models whose spans come from real
// OpenTelemetry JS SDKs (one per pod, `k8s.pod.name` and `k8s.namespace.name` as resource attributes,
// as the OTel Operator's injection sets them), each span on its pod's GPU. The series test counts
// its exposition; the fleet benchmark serves it as N nodes.
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { fakeUuid, type NvmlDouble } from './nvml-double.ts';
import type { SysfsFixture } from './sysfs-fixture.ts';

export const GPUS = 8;
export const PODS = 30;
export const MODELS = 20;
/** ml_energy's idle series: one per host device (8 GPUs, 2 packages, 2 DRAM zones). */
export const HOST_DEVICES = GPUS + 4;
const NAMESPACES = ['serving', 'search', 'research'];
/** ml_request_energy_joules lines per model at the default bounds (config requestEnergyBuckets): 4, +Inf, _sum, _count. */
export const ENERGY_LINES = 4 + 3;

const pod = (index: number) => ({
  name: `model-${index % MODELS}-${Math.floor(index / MODELS)}`,
  namespace: NAMESPACES[index % NAMESPACES.length]!,
  model: `model-${index % MODELS}`,
  gpu: fakeUuid(index % GPUS),
});

/** H100 boards at 350 W: the energy counter as it stands `elapsedMs` after the start. */
export const boards = (elapsedMs: number) => ({
  driverVersion: '550.54.15',
  gpus: Array.from({ length: GPUS }, () => ({
    name: 'NVIDIA H100 80GB HBM3',
    energyMillijoules: 1_000_000 + 350 * elapsedMs,
    powerMilliwatts: 350_000,
    powerLimitMilliwatts: 700_000,
    enforcedLimitMilliwatts: 700_000,
  })),
});

/** Every device draws power (GPUs 350 W, packages 150 W, DRAM 20 W), so every interval has joules to attribute; returns the stop. */
export function drawPower(fixture: SysfsFixture, nvml: NvmlDouble): () => void {
  const startMs = Date.now();
  const draw = setInterval(() => {
    const elapsedMs = Date.now() - startMs;
    nvml.script(boards(elapsedMs));
    for (const socket of [0, 1]) {
      fixture.setEnergy(`intel-rapl:${socket}`, 1_000_000_000 * (socket + 1) + 150_000 * elapsedMs);
      fixture.setEnergy(`intel-rapl:${socket}:0`, 100_000_000 * (socket + 1) + 20_000 * elapsedMs);
    }
  }, 100);
  return () => clearInterval(draw);
}

/** One 800 ms request per pod (100 input, 50 output tokens) ending 200 ms ago, each from its pod's own SDK. */
export async function sendPodSpans(ingestUrl: string): Promise<void> {
  const nowMs = Date.now();
  for (let index = 0; index < PODS; index += 1) {
    const { name, namespace, model, gpu } = pod(index);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'vllm', 'k8s.pod.name': name, 'k8s.namespace.name': namespace }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${ingestUrl}/v1/traces` }))],
    });
    const span = provider.getTracer('vllm').startSpan('llm_request', {
      kind: SpanKind.SERVER,
      startTime: nowMs - 1000,
      attributes: {
        'gen_ai.request.model': model,
        'ml.phase': 'inference',
        'hw.id': gpu,
        'gen_ai.usage.input_tokens': 100,
        'gen_ai.usage.output_tokens': 50,
      },
    });
    span.end(nowMs - 200);
    await provider.shutdown();
  }
}

/** Series per family name in a text exposition (histogram buckets, _sum and _count under their family). */
export function seriesPerFamily(exposition: string): Map<string, number> {
  const families = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0].replace(/_(bucket|sum|count)$/, '');
    families.set(name, (families.get(name) ?? 0) + 1);
  }
  return families;
}

// `footprint doctor` beside a running daemon names the servers whose spans say they sample below
// 100% or leave service.name at the SDK's default, with each server's fix. Ray Serve's shape
// (test/support/server-span-shapes.ts) is sent through the real gRPC exporter under a caller whose
// tracestate carries an OTel sampling threshold, from a process whose service.name is unset.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { context, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { FOOTPRINT_BIN } from '../support/daemon-process.ts';
import { sampleSum } from '../support/daemon.ts';
import { recordRayServeRequest } from '../support/server-span-shapes.ts';
import { ServingProcess } from '../support/serving-process.ts';
import { daemonSuite } from '../support/suite.ts';

/** Runs `footprint doctor` as a user does; asynchronously, since the daemon it reads runs in this process. */
async function doctor(hostRoot: string, listen: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [FOOTPRINT_BIN, 'doctor', '--host-root', hostRoot, '--listen', listen, '--nvml-library', '/nonexistent/libnvidia-ml.so.1'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return stdout;
}

describe('doctor on span senders', () => {
  const suite = daemonSuite({ host: (fixture) => fixture.setCpuVendor('GenuineIntel', 2) });

  it('names Ray Serve sampling at 1/2 and unnamed, with the fixes; says when no daemon answers', async () => {
    const { daemon, fixture } = suite;
    const unnamed = { 'service.name': 'unknown_service' };
    const endpoints = { grpcAddress: `127.0.0.1:${daemon.grpcPort}`, url: daemon.ingestUrl };
    const proxy = new ServingProcess('grpc', endpoints, unnamed);
    const replica = new ServingProcess('grpc', endpoints, unnamed);
    // The caller's sampler kept this trace with probability 1/2: its tracestate says so (ot=th:8), and every span inherits it.
    const traceState = {
      get: (key: string) => (key === 'ot' ? 'th:8' : undefined),
      set: () => traceState,
      unset: () => traceState,
      serialize: () => 'ot=th:8',
    };
    const caller = trace.setSpanContext(context.active(), {
      traceId: '8bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '40f067aa0ba902b7',
      traceFlags: 1,
      isRemote: true,
      traceState,
    });
    const nowMs = Date.now();
    recordRayServeRequest(
      proxy.tracer('ray.serve._private.tracing_utils'),
      replica.tracer('ray.serve._private.tracing_utils'),
      { startMs: nowMs - 900, endMs: nowMs - 100 },
      { app: 'llm', deployment: 'LLMServer', multiplexedModelId: '' },
      caller,
    );
    await Promise.all([proxy.close(), replica.close()]);
    await daemon.scrapeUntil('the advisories', (exposition) => sampleSum(exposition, 'footprint_ingest_advisories_total') === 6);

    const out = await doctor(fixture.root, `127.0.0.1:${daemon.metricsPort}`);
    expect(out).toContain(`Span senders (http://127.0.0.1:${daemon.metricsPort}/metrics):`);
    expect(out).toContain(
      "- ray-serve: 3 span(s) sampled below 100%: the energy of the requests it did not send went to idle\n  fix: raise the tracing hook's sampling ratio to 1.0",
    );
    expect(out).toContain("- ray-serve: 3 span(s) with service.name left at the SDK's default");
    expect(out).toContain("fix: set service.name in the tracing hook's TracerProvider resource");

    expect(await doctor(fixture.root, '127.0.0.1:9')).toContain('Span senders: no daemon answered on http://127.0.0.1:9/metrics');
  });
});

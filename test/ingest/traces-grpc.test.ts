// The OTLP/gRPC answers of TraceService/Export for good, partial and hostile input, with a real
// grpc-js client sending raw message bytes; after each hostile call the listener must still take
// a good one. Status codes as the OTLP spec maps them (https://opentelemetry.io/docs/specs/otlp/#failures-1).
import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { BasicTracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ExportTraceServiceResponse, RetryInfo, RpcStatus } from '../../src/ingest/otlp-schema.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { encodeTraces, grpcExport } from '../support/otlp-export.ts';
import { sleep } from '../support/eventually.ts';

const NOW_NS = BigInt(Date.now()) * 1_000_000n;

function span(model: string, extra: Record<string, unknown> = {}) {
  return {
    traceId: Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex'),
    spanId: Buffer.from('b7ad6b7169203331', 'hex'),
    name: 'infer',
    kind: 2,
    startTimeUnixNano: String(NOW_NS),
    endTimeUnixNano: String(NOW_NS + 250_000_000n),
    attributes: [{ key: 'ml.model', value: { stringValue: model } }],
    ...extra,
  };
}

const GOOD = encodeTraces([span('good')]);

interface Answer {
  error?: ServiceError;
  response?: { partialSuccess?: { rejectedSpans?: number; errorMessage?: string } };
}

let ingest: IngestHarness | undefined;
const clients: Client[] = [];

function call(body: Buffer, { token, gzip = false }: { token?: string; gzip?: boolean } = {}): Promise<Answer> {
  const client = new Client(ingest!.grpcAddress, credentials.createInsecure(), gzip ? { 'grpc.default_compression_algorithm': 2 } : {});
  clients.push(client);
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return grpcExport(client, body, metadata).then(({ error, response }) =>
    error ? { error } : { response: ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(response!), { longs: Number }) },
  );
}

afterEach(async () => {
  if (ingest) {
    const answer = await call(GOOD, { token: 's3cret' });
    expect(answer).toEqual({ response: {} });
    for (const client of clients.splice(0)) client.close();
    await ingest.close();
    ingest = undefined;
  }
});

describe('OTLP/gRPC TraceService/Export', () => {
  it('takes a request, plain and gzip, and rejects invalid spans in partialSuccess', async () => {
    ingest = await startIngest({ token: 's3cret' });
    const answer = await call(encodeTraces([span('a'), span('b', { endTimeUnixNano: String(NOW_NS + 2n * 3_600_000_000_000n) })]), { token: 's3cret' });
    expect(answer.response).toEqual({
      partialSuccess: {
        rejectedSpans: 1,
        errorMessage: expect.stringMatching(/1 without a valid time range \(the first has an end more than 60 s in the future\)/),
      },
    });
    expect((await call(encodeTraces([span('c')]), { token: 's3cret', gzip: true })).response).toEqual({});
    expect(ingest.sink.activities.map((activity) => activity.workload.model)).toEqual(['a', 'c']);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 2, invalid: 1 });
  });

  it('answers UNAUTHENTICATED without or with a wrong bearer token', async () => {
    ingest = await startIngest({ token: 's3cret' });
    for (const token of [undefined, 'wrong', '']) {
      const { error } = await call(GOOD, token === undefined ? {} : { token });
      expect([error?.code, error?.details]).toEqual([status.UNAUTHENTICATED, 'missing or wrong bearer token']);
    }
    expect(ingest.sink.activities).toEqual([]);
  });

  it("takes the OTel gRPC exporter's gzip exports with the bearer token, and refuses them without", async () => {
    ingest = await startIngest({ token: 's3cret' });
    const finished: ReadableSpan[] = [];
    const provider = new BasicTracerProvider({
      spanProcessors: [{ onStart: () => undefined, onEnd: (span) => finished.push(span), forceFlush: async () => undefined, shutdown: async () => undefined }],
    });
    provider
      .getTracer('test')
      .startSpan('infer', { attributes: { 'ml.model': 'zipped' } })
      .end();
    const exportWith = async (token: string | undefined) => {
      const metadata = new Metadata();
      if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
      type Config = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>;
      const exporter = new OTLPTraceExporter({ url: `http://${ingest!.grpcAddress}`, compression: 'gzip' as Config['compression'], metadata });
      const result = await new Promise<ExportResult>((resolve) => exporter.export(finished, resolve));
      await exporter.shutdown();
      return result;
    };
    expect((await exportWith('s3cret')).code).toBe(0);
    const refused = await exportWith(undefined);
    expect([refused.code, (refused.error as ServiceError | undefined)?.code]).toEqual([1, status.UNAUTHENTICATED]);
    expect(ingest.sink.activities.map((activity) => activity.workload.model)).toEqual(['zipped']);
  });

  it('answers INVALID_ARGUMENT to a truncated message and to bytes that are no message', async () => {
    ingest = await startIngest({ token: 's3cret' });
    for (const body of [GOOD.subarray(0, GOOD.length - 5), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]) {
      const { error } = await call(body, { token: 's3cret' });
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(/^invalid protobuf ExportTraceServiceRequest/);
    }
  });

  it('answers RESOURCE_EXHAUSTED to a message over ingestMaxBodyBytes, also when it is over only after gunzip', async () => {
    ingest = await startIngest({ token: 's3cret', maxBodyBytes: 64 * 1024 });
    const big = encodeTraces(Array.from({ length: 2000 }, (_, index) => span(`m${index}`)));
    expect(big.length).toBe(154_898);
    // Compressed, it is far under the limit: only the size after gunzip can refuse it.
    expect(gzipSync(big).length).toBeLessThan(16 * 1024);
    const plain = await call(big, { token: 's3cret' });
    expect([plain.error?.code, plain.error?.details]).toEqual([status.RESOURCE_EXHAUSTED, `Received message larger than max (${big.length} vs 65536)`]);
    const gzipped = await call(big, { token: 's3cret', gzip: true });
    expect([gzipped.error?.code, gzipped.error?.details]).toEqual([
      status.RESOURCE_EXHAUSTED,
      'Received message that decompresses to a size larger than 65536',
    ]);
    expect(ingest.sink.activities).toEqual([]);
  });

  it('answers RESOURCE_EXHAUSTED with google.rpc.RetryInfo while the queue is full, sharing the queue with OTLP/HTTP', async () => {
    const held: (() => void)[] = [];
    ingest = await startIngest({ token: 's3cret', queueLimitSpans: 2, schedule: (turn) => held.push(turn) });
    const first = fetch(`${ingest.url}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf', Authorization: 'Bearer s3cret' },
      body: new Uint8Array(encodeTraces([span('a'), span('b')])),
    });
    while (held.length === 0) await sleep(5);
    const { error } = await call(encodeTraces([span('c')]), { token: 's3cret' });
    expect([error?.code, error?.details]).toEqual([status.RESOURCE_EXHAUSTED, 'ingest queue is full (2 spans); retry later']);
    const [details] = error!.metadata.get('grpc-status-details-bin') as Buffer[];
    const rpcStatus = RpcStatus.toObject(RpcStatus.decode(details!), { longs: Number }) as { code: number; details: { type_url: string; value: Uint8Array }[] };
    expect(rpcStatus.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(rpcStatus.details.map((detail) => detail.type_url)).toEqual(['type.googleapis.com/google.rpc.RetryInfo']);
    expect(RetryInfo.toObject(RetryInfo.decode(rpcStatus.details[0]!.value), { longs: Number })).toEqual({ retryDelay: { seconds: 1 } });
    expect(ingest.outcomes.get('throttled')).toBe(1);
    held.shift()!();
    expect((await first).status).toBe(200);
    // The queue is empty again; the good call in afterEach needs its turn run.
    const release = setInterval(() => held.shift()?.(), 5);
    const answer = await call(GOOD, { token: 's3cret' });
    clearInterval(release);
    expect(answer).toEqual({ response: {} });
    for (const client of clients.splice(0)) client.close();
    await ingest.close();
    ingest = undefined;
  });
});

// The OTLP/HTTP answers of POST /v1/traces for good, partial and hostile input; after each hostile
// request the listener must still take a good one.
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ExportTraceServiceRequest, ExportTraceServiceResponse, RpcStatus } from '../../src/ingest/otlp-schema.ts';
import { startIngest, type IngestHarness } from '../support/ingest-harness.ts';
import { sleep } from '../support/eventually.ts';

const NOW_NS = BigInt(Date.now()) * 1_000_000n;

function attribute(key: string, value: unknown) {
  return { key, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value } };
}

function span(attributes: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    name: 'infer',
    kind: 2,
    startTimeUnixNano: String(NOW_NS),
    endTimeUnixNano: String(NOW_NS + 250_000_000n),
    attributes: Object.entries(attributes).map(([key, value]) => attribute(key, value)),
    ...extra,
  };
}

function request(spans: unknown[], resource: Record<string, unknown> = {}) {
  return { resourceSpans: [{ resource: { attributes: Object.entries(resource).map(([key, value]) => attribute(key, value)) }, scopeSpans: [{ spans }] }] };
}

const GOOD = request([span({ 'ml.model': 'good' })]);

let ingest: IngestHarness | undefined;
afterEach(async () => {
  // Every hostile request below is followed by a good one that must succeed.
  if (ingest) {
    const response = await postJson(GOOD);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    await ingest.close();
    ingest = undefined;
  }
});

function post(body: BodyInit, headers: Record<string, string>, init: RequestInit = {}) {
  return fetch(`${ingest!.url}/v1/traces`, { method: 'POST', body, headers, ...init });
}

function postJson(value: unknown) {
  return post(JSON.stringify(value), { 'Content-Type': 'application/json' });
}

describe('POST /v1/traces', () => {
  it('reads workload from span, then resource, then gen_ai model; tokens from both conventions', async () => {
    ingest = await startIngest({ weightByTokens: true });
    const response = await postJson(
      request(
        [
          span({ 'ml.phase': 'inference', 'gen_ai.request.model': 'gpt-oss', 'gen_ai.usage.prompt_tokens': 7, 'gen_ai.usage.completion_tokens': 3 }),
          span({ 'ml.model': 'on-span', 'hw.id': 'GPU-7', 'gen_ai.usage.input_tokens': 100 }, { kind: 1 }),
          // A child span of the same request, a client call and a span naming no workload are not activities.
          span({ 'ml.model': 'child' }, { kind: 1, parentSpanId: 'b7ad6b7169203332' }),
          span({ 'ml.model': 'client' }, { kind: 3 }),
        ],
        { 'ml.job': 'from-resource', 'k8s.pod.name': 'vllm-0', 'hw.id': 'GPU-0' },
      ),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    const startMs = Number(NOW_NS / 1_000_000n);
    expect(ingest.sink.requests).toEqual([
      {
        workload: { model: 'gpt-oss', job: 'from-resource', phase: 'inference', pod: 'vllm-0' },
        startMs,
        endMs: startMs + 250,
        inputTokens: 7,
        outputTokens: 3,
        deviceIds: ['GPU-0'],
      },
      { workload: { model: 'on-span', job: 'from-resource', pod: 'vllm-0' }, startMs, endMs: startMs + 250, inputTokens: 100, deviceIds: ['GPU-7'] },
    ]);
    expect(ingest.sink.activities.map((activity) => activity.weight)).toEqual([10, 100]);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 2, ignored: 2 });
  });

  it('answers protobuf with protobuf and rejects truncated and invalid spans in partialSuccess', async () => {
    ingest = await startIngest();
    ingest.sink.truncatedBeforeMs = Number(NOW_NS / 1_000_000n) + 1000;
    const body = ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject(
        request([
          span({ 'ml.model': 'm' }, { traceId: undefined, spanId: undefined }),
          span({ 'ml.model': 'm' }, { traceId: undefined, spanId: undefined, endTimeUnixNano: '0' }),
        ]),
      ),
    ).finish();
    const response = await post(Buffer.from(body), { 'Content-Type': 'application/x-protobuf' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    const answer = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(new Uint8Array(await response.arrayBuffer())), { longs: Number });
    expect(answer.partialSuccess.rejectedSpans).toBe(2);
    expect(answer.partialSuccess.errorMessage).toMatch(
      /1 without a valid time range.*1 truncated \(part of their time was settled past the attribution horizon or taken by other workloads; their requests and tokens still count\)/,
    );
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ truncated: 1, invalid: 1 });
    expect(ingest.sink.requests).toHaveLength(1);
    ingest.sink.truncatedBeforeMs = 0;
  });

  it('takes gzip bodies', async () => {
    ingest = await startIngest();
    const response = await post(gzipSync(JSON.stringify(GOOD)), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect(ingest.sink.activities.map((activity) => activity.workload.model)).toEqual(['good']);
  });

  it('answers a truncated protobuf with 400 and a google.rpc.Status', async () => {
    ingest = await startIngest();
    const whole = ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject(request([span({ 'ml.model': 'm' }, { traceId: undefined, spanId: undefined })])),
    ).finish();
    const response = await post(Buffer.from(whole.subarray(0, whole.length - 5)), { 'Content-Type': 'application/x-protobuf' });
    expect(response.status).toBe(400);
    const status = RpcStatus.toObject(RpcStatus.decode(new Uint8Array(await response.arrayBuffer())));
    expect(status.code).toBe(3);
    expect(status.message).toMatch(/invalid protobuf/);
  });

  it('answers structurally wrong JSON with 400 and spans with unusable times in partialSuccess', async () => {
    ingest = await startIngest();
    for (const body of ['{"resourceSpans": "nope"}', '[1,2]', '{not json', JSON.stringify(request([span({}, { spanId: 'xyz' })]))]) {
      const response = await post(body, { 'Content-Type': 'application/json; charset=utf-8' });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: 3 });
    }
    const response = await postJson(
      request([span({ 'ml.model': 'm' }, { startTimeUnixNano: 'yesterday' }), span({ 'ml.model': 'm' }, { startTimeUnixNano: { a: 1 } })]),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ partialSuccess: { rejectedSpans: '2' } });
    expect(ingest.sink.activities).toEqual([]);
  });

  it('answers 413 to a 10 MB body, with Content-Length and chunked', async () => {
    ingest = await startIngest();
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const sized = await post(big, { 'Content-Type': 'application/json' });
    expect(sized.status).toBe(413);
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < big.length; offset += 64 * 1024) controller.enqueue(big.subarray(offset, offset + 64 * 1024));
        controller.close();
      },
    });
    const chunked = await post(chunks as unknown as BodyInit, { 'Content-Type': 'application/json' }, { duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('answers 413 to a gzip bomb without inflating it', async () => {
    ingest = await startIngest();
    // 1 GiB of zeros: one gzip member of 16 MiB of zeros repeated 64 times (gunzip reads
    // concatenated members as one stream), about 1 MB on the wire.
    const member = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => member));
    expect(bomb.length).toBeLessThan(1024 * 1024 * 1.2);
    const rssBefore = process.memoryUsage().rss;
    const response = await post(bomb, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ message: expect.stringMatching(/decompressed body exceeds/) });
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
  });

  it('strips control characters and caps 10 kB values', async () => {
    ingest = await startIngest();
    const response = await postJson(request([span({ 'ml.model': ' llama\u0000\u202e\n  3\t8b ', 'ml.job': 'j'.repeat(10_000), 'ml.phase': 'TRAINING' })]));
    expect(response.status).toBe(200);
    expect(ingest.sink.activities[0]!.workload).toEqual({ model: 'llama 3 8b', job: 'j'.repeat(128), phase: 'training' });
  });

  it('answers 415, 405, 404 and 401', async () => {
    ingest = await startIngest({ token: 's3cret' });
    const auth = { Authorization: 'Bearer s3cret' };
    expect((await post('x', { 'Content-Type': 'text/plain', ...auth })).status).toBe(415);
    expect((await post('x', { 'Content-Type': 'application/json', 'Content-Encoding': 'br', ...auth })).status).toBe(415);
    const get = await fetch(`${ingest.url}/v1/traces`, { headers: auth });
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
    expect((await fetch(`${ingest.url}/v1/metrics`, { method: 'POST', headers: auth })).status).toBe(404);
    const unauthorised = await postJson(GOOD);
    expect([unauthorised.status, unauthorised.headers.get('www-authenticate')]).toEqual([401, 'Bearer']);
    expect((await post(JSON.stringify(GOOD), { 'Content-Type': 'application/json', Authorization: 'Bearer wrong' })).status).toBe(401);
    const good = await post(JSON.stringify(GOOD), { 'Content-Type': 'application/json', ...auth });
    expect(good.status).toBe(200);
    await ingest.close();
    ingest = undefined;
  });

  it('answers 429 with Retry-After while the queue is full', async () => {
    const held: (() => void)[] = [];
    ingest = await startIngest({ queueLimitSpans: 2, schedule: (turn) => held.push(turn) });
    const first = postJson(request([span({ 'ml.model': 'a' }), span({ 'ml.model': 'b' })]));
    while (held.length === 0) await sleep(5);
    const refused = await postJson(request([span({ 'ml.model': 'c' })]));
    expect([refused.status, refused.headers.get('retry-after')]).toEqual([429, '1']);
    expect(await refused.json()).toMatchObject({ code: 8 });
    expect(ingest.outcomes.get('throttled')).toBe(1);
    held.shift()!();
    expect((await first).status).toBe(200);
    expect(ingest.sink.activities.map((activity) => activity.workload.model)).toEqual(['a', 'b']);
    // The queue is empty again: the next turn runs as scheduled.
    const next = postJson(GOOD);
    while (held.length === 0) await sleep(5);
    held.shift()!();
    expect((await next).status).toBe(200);
    await ingest.close();
    ingest = undefined;
  });

  it('reads gen_ai.operation.name from the allow-list, folding other values to other', async () => {
    ingest = await startIngest();
    const operations = ['chat', 'embeddings', 'invoke_agent', 'Chat; DROP TABLE', undefined];
    const response = await postJson(
      request(operations.map((operation) => span({ 'gen_ai.request.model': 'm', ...(operation && { 'gen_ai.operation.name': operation }) }))),
    );
    expect(await response.json()).toEqual({});
    expect(ingest.sink.requests.map((record) => record.operation)).toEqual(['chat', 'embeddings', 'invoke_agent', 'other', undefined]);
  });

  it('counts every SERVER span as a request named by service.name, whatever it carries, but not health probes', async () => {
    ingest = await startIngest();
    const response = await postJson(
      request(
        [
          span({ 'gen_ai.system': 'vllm' }),
          span({ 'gen_ai.latency.e2e': 1 }),
          span({ 'http.route': '/generate' }, { name: 'POST /generate' }),
          span({ 'http.route': '/healthz' }, { name: 'GET /healthz' }),
          span({}, { name: 'health' }),
        ],
        { 'service.name': 'svc' },
      ),
    );
    expect(await response.json()).toEqual({});
    expect(ingest.sink.requests.map((record) => record.workload)).toEqual([{ model: 'svc' }, { model: 'svc' }, { model: 'svc' }]);
    expect(Object.fromEntries(ingest.outcomes)).toEqual({ accepted: 3, ignored: 2 });
  });

  it('rejects out-of-bound span times as invalid, each with its reason (issue #12 item 2)', async () => {
    ingest = await startIngest({ limits: { maxSpanDurationMs: 60_000 } });
    const at = (startTimeUnixNano: unknown, endTimeUnixNano: unknown) => span({ 'ml.model': 'm' }, { startTimeUnixNano, endTimeUnixNano });
    const end = String(NOW_NS + 250_000_000n);
    const cases: [unknown, unknown, string][] = [
      ['1e400', end, 'a start or end time that is missing or not a positive integer of nanoseconds'],
      ['-5', end, 'a start or end time that is missing or not a positive integer of nanoseconds'],
      ['12.5', end, 'a start or end time that is missing or not a positive integer of nanoseconds'],
      [String(NOW_NS), '18446744073709551615', 'an end more than 60 s in the future'],
      [String(NOW_NS + 1_000_000_000n), end, 'an end before the start'],
      // Year 2500.
      ['16725225600000000000', '16725225600250000000', 'an end more than 60 s in the future'],
      [String(NOW_NS - 61_000_000_000n), end, 'a duration above maxSpanDuration (60 s)'],
    ];
    for (const [start, finish, reason] of cases) {
      const body = JSON.stringify(request([at(start, finish)])).replace('"1e400"', '1e400');
      const response = await post(body, { 'Content-Type': 'application/json' });
      expect(await response.json()).toEqual({
        partialSuccess: { rejectedSpans: '1', errorMessage: `rejected spans: 1 without a valid time range (the first has ${reason})` },
      });
    }
    // 59 s in the future is clock skew, not an error; 60 s long is the limit itself.
    const skewed = await postJson(request([at(String(NOW_NS - 1_000_000_000n), String(NOW_NS + 59_000_000_000n))]));
    expect(await skewed.json()).toEqual({});
    expect(ingest.sink.activities).toHaveLength(1);
    expect(ingest.outcomes.get('invalid')).toBe(cases.length);
  });

  it('rejects spans past the per-request limit in partialSuccess', async () => {
    ingest = await startIngest({ limits: { maxSpansPerRequest: 2 } });
    const response = await postJson(request([span({ 'ml.model': 'a' }), span({ 'ml.model': 'b' }), span({ 'ml.model': 'c' })]));
    expect(await response.json()).toMatchObject({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringMatching(/1 past the limit of 2/) } });
  });
});

// A seeded mutation fuzzer for OTLP trace exports. The engine (seed corpus, mutators, campaign) is
// independent of the transport, so the same cases run against OTLP/HTTP here and against an
// OTLP/gRPC receiver (grpcTransport). Used by test/hardening/fuzz.test.ts (CI) and bench/fuzz.ts
// (`npm run fuzz`, the long campaign).
import { Client, credentials, status } from '@grpc/grpc-js';
import { Agent, request } from 'node:http';
import { ExportTraceServiceRequest } from '../../src/ingest/otlp-schema.ts';
import { grpcExport } from './otlp-export.ts';

export type FuzzEncoding = 'protobuf' | 'json';

/** Sends one body; resolves the answer's status (HTTP status; a gRPC transport maps its code to the HTTP one). */
export interface FuzzTransport {
  readonly name: string;
  send(body: Buffer, encoding: FuzzEncoding): Promise<number>;
  close(): void;
}

const CONTENT_TYPES: Record<FuzzEncoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

export function httpTransport(baseUrl: string): FuzzTransport {
  const url = new URL('/v1/traces', baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  return {
    name: 'otlp-http',
    send(body, encoding) {
      return new Promise((resolve, reject) => {
        const call = request(
          url,
          { method: 'POST', agent, headers: { 'Content-Type': CONTENT_TYPES[encoding], 'Content-Length': body.length } },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        call.on('error', reject);
        call.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

/**
 * gRPC status to HTTP status, as google.rpc.Code documents each code's HTTP mapping
 * (googleapis/google/rpc/code.proto); a code it does not list is 500.
 */
const HTTP_STATUS_OF_GRPC: Partial<Record<status, number>> = {
  [status.OK]: 200,
  [status.CANCELLED]: 499,
  [status.INVALID_ARGUMENT]: 400,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.PERMISSION_DENIED]: 403,
  [status.UNAUTHENTICATED]: 401,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.FAILED_PRECONDITION]: 400,
  [status.ABORTED]: 409,
  [status.OUT_OF_RANGE]: 400,
  [status.UNIMPLEMENTED]: 501,
  [status.UNAVAILABLE]: 503,
};

/**
 * TraceService/Export over one HTTP/2 connection (as an OTel gRPC exporter keeps one). gRPC carries
 * protobuf only, so a JSON case is refused here. UNAVAILABLE is what grpc-js reports when the
 * connection is refused or dropped, so it counts as a transport error, not as an answer.
 */
export function grpcTransport(address: string): FuzzTransport {
  const client = new Client(address, credentials.createInsecure());
  return {
    name: 'otlp-grpc',
    send(body, encoding) {
      if (encoding !== 'protobuf') return Promise.reject(new Error('OTLP/gRPC carries protobuf only'));
      return grpcExport(client, body).then(({ error }) => {
        if (error?.code === status.UNAVAILABLE) throw error;
        return HTTP_STATUS_OF_GRPC[error?.code ?? status.OK] ?? 500;
      });
    },
    close: () => client.close(),
  };
}

/** mulberry32: a small, fast, seedable PRNG, so a failing case is reproduced from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function attribute(key: string, value: string | number) {
  return { key, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value } };
}

/**
 * Seed requests in the shapes real senders build: vLLM's `llm_request` span (gen_ai.* attributes,
 * vllm/tracing.py SpanAttributes), and an OTel JS HTTP server span carrying baggage-copied ml.*
 * attributes (BaggageSpanProcessor) under a resource with service.name.
 */
function seedRequests(nowNs: bigint): Record<string, unknown>[] {
  const times = (offsetMs: number, durationMs: number) => ({
    startTimeUnixNano: String(nowNs + BigInt(offsetMs) * 1_000_000n),
    endTimeUnixNano: String(nowNs + BigInt(offsetMs + durationMs) * 1_000_000n),
  });
  const ids = (n: number) => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: `b7ad6b716920333${n}` });
  return [
    {
      resourceSpans: [
        {
          resource: { attributes: [attribute('service.name', 'vllm')] },
          scopeSpans: [
            {
              scope: { name: 'vllm.llm_engine' },
              spans: [
                {
                  ...ids(1),
                  name: 'llm_request',
                  kind: 2,
                  ...times(-500, 400),
                  attributes: [
                    attribute('gen_ai.request.model', 'meta-llama/Llama-3.1-8B'),
                    attribute('gen_ai.usage.prompt_tokens', 128),
                    attribute('gen_ai.usage.completion_tokens', 64),
                    attribute('gen_ai.request.id', 'cmpl-1'),
                  ],
                },
              ],
            },
          ],
        },
      ],
    },
    {
      resourceSpans: [
        {
          resource: { attributes: [attribute('service.name', 'trainer'), attribute('ml.job', 'ft-42')] },
          scopeSpans: [
            {
              scope: { name: '@opentelemetry/instrumentation-http' },
              spans: [
                {
                  ...ids(2),
                  name: 'POST /generate',
                  kind: 2,
                  ...times(-300, 250),
                  attributes: [attribute('ml.model', 'llama'), attribute('ml.phase', 'inference'), attribute('hw.id', 'estimated:cpu')],
                },
                { ...ids(3), parentSpanId: 'b7ad6b7169203332', name: 'tokenize', kind: 1, ...times(-290, 10), attributes: [attribute('ml.model', 'llama')] },
              ],
            },
          ],
        },
      ],
    },
  ];
}

export function seedBodies(encoding: FuzzEncoding, nowNs = BigInt(Date.now()) * 1_000_000n): Buffer[] {
  return seedRequests(nowNs).map((message) => {
    if (encoding === 'json') return Buffer.from(JSON.stringify(message));
    const withBytes = JSON.parse(JSON.stringify(message), (key, value) =>
      ['traceId', 'spanId', 'parentSpanId'].includes(key) ? Buffer.from(value as string, 'hex') : value,
    );
    return Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(withBytes)).finish());
  });
}

/** Byte values that sit on boundaries of varints, lengths, wire types and UTF-8. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xfe, 0x0a, 0x12, 0x22];
/** Values a JSON field gets swapped for: wrong types, huge and negative times, invalid numbers. */
const INTERESTING_JSON = [
  'null',
  'true',
  '-5',
  '"-5"',
  '1e400',
  '"1e400"',
  '18446744073709551615',
  '"18446744073709551616"',
  '{}',
  '[]',
  '[[[[[[[[[[]]]]]]]]]]',
  '""',
  '"\\u0000"',
  '0.5',
  '-0',
];

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function randomBytes(random: () => number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
}

/** One byte-level change: what a broken encoder, a proxy or an attacker does to any body. */
function mutateBytes(body: Buffer, random: () => number, corpus: readonly Buffer[]): Buffer {
  const at = Math.floor(random() * (body.length + 1));
  const span = 1 + Math.floor(random() * 16);
  switch (Math.floor(random() * 8)) {
    case 0: {
      const copy = Buffer.from(body);
      if (copy.length > 0) copy[at % copy.length]! ^= 1 << Math.floor(random() * 8);
      return copy;
    }
    case 1: {
      const copy = Buffer.from(body);
      if (copy.length > 0) copy[at % copy.length] = pick(random, INTERESTING_BYTES);
      return copy;
    }
    case 2:
      return Buffer.concat([body.subarray(0, at), randomBytes(random, span), body.subarray(at)]);
    case 3:
      return Buffer.concat([body.subarray(0, at), body.subarray(at + span)]);
    case 4:
      return body.subarray(0, at);
    case 5: // duplicate a run of bytes (repeated fields, doubled lengths)
      return Buffer.concat([body.subarray(0, at + span), body.subarray(at, at + span), body.subarray(at + span)]);
    case 6: {
      // splice the tail of another corpus body
      const other = pick(random, corpus);
      return Buffer.concat([body.subarray(0, at), other.subarray(Math.floor(random() * other.length))]);
    }
    default:
      // a 10-byte varint of all ones (2^64-1): the largest length or time a field can claim
      return Buffer.concat([body.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), body.subarray(at)]);
  }
}

/** A value-level change to a JSON body: every scalar or container is a candidate for an interesting value. */
function mutateJsonValue(body: Buffer, random: () => number): Buffer {
  const text = body.toString('utf8');
  const values = [...text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/g)];
  if (values.length === 0) return body;
  const target = pick(random, values);
  const replacement = random() < 0.1 ? `"${'x'.repeat(1 + Math.floor(random() * 70_000))}"` : pick(random, INTERESTING_JSON);
  return Buffer.from(text.slice(0, target.index) + replacement + text.slice(target.index! + target[0].length));
}

export function mutate(body: Buffer, encoding: FuzzEncoding, random: () => number, corpus: readonly Buffer[]): Buffer {
  let mutated = body;
  // 1-4 stacked mutations: single changes mostly hit one check, stacked ones reach deeper code.
  const rounds = 1 + Math.floor(random() * 4);
  for (let round = 0; round < rounds; round++) {
    mutated = encoding === 'json' && random() < 0.5 ? mutateJsonValue(mutated, random) : mutateBytes(mutated, random, corpus);
  }
  return mutated;
}

export interface CampaignResult {
  transport: string;
  encoding: FuzzEncoding;
  seed: number;
  cases: number;
  /** How many answers had each status. */
  statuses: Record<number, number>;
  /** Cases the transport could not complete (connection refused or reset): the receiver died or dropped it. */
  transportErrors: number;
  durationMs: number;
}

export interface CampaignOptions {
  transport: FuzzTransport;
  encoding: FuzzEncoding;
  cases: number;
  seed: number;
  /** Requests in flight at once. */
  concurrency?: number;
}

export async function runCampaign({ transport, encoding, cases, seed, concurrency = 16 }: CampaignOptions): Promise<CampaignResult> {
  const random = seededRandom(seed);
  const corpus = seedBodies(encoding);
  const result: CampaignResult = { transport: transport.name, encoding, seed, cases, statuses: {}, transportErrors: 0, durationMs: 0 };
  const startMs = Date.now();
  let next = 0;
  // Bodies are generated in case order from one PRNG, so the set of cases depends on the seed only.
  const bodies = function* () {
    while (next < cases) {
      next++;
      yield mutate(pick(random, corpus), encoding, random, corpus);
    }
  };
  const source = bodies();
  const worker = async () => {
    for (let item = source.next(); !item.done; item = source.next()) {
      try {
        const status = await transport.send(item.value, encoding);
        result.statuses[status] = (result.statuses[status] ?? 0) + 1;
      } catch {
        result.transportErrors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  result.durationMs = Date.now() - startMs;
  return result;
}

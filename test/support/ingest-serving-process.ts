// A serving process as a real deployment has it: the OTel Node SDK with the BaggageSpanProcessor,
// W3C propagators and an OTLP exporter (EXPORTER=json|proto) pointed at the ingest listener
// (OTLP_URL). Each GET /infer?input=N&output=M extracts the caller's context from the request
// headers and records one SERVER span with a nested INTERNAL span under it, whose ids it answers in
// a `traceresponse` header. Prints its port on
// stdout; POST /shutdown flushes the exporter and exits.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, context, defaultTextMapGetter, propagation, trace } from '@opentelemetry/api';
import { ALLOW_ALL_BAGGAGE_KEYS, BaggageSpanProcessor } from '@opentelemetry/baggage-span-processor';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

const url = `${process.env.OTLP_URL}/v1/traces`;
const exporter = process.env.EXPORTER === 'proto' ? new ProtoExporter({ url }) : new JsonExporter({ url });
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'inference', 'hw.id': 'GPU-0,GPU-1', 'k8s.namespace.name': 'serving' }),
  spanProcessors: [new BaggageSpanProcessor(ALLOW_ALL_BAGGAGE_KEYS), new BatchSpanProcessor(exporter)],
});
provider.register({ propagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }) });
const tracer = trace.getTracer('serving');

const server = createServer((request, response) => {
  const requestUrl = new URL(request.url ?? '/', 'http://localhost');
  if (requestUrl.pathname === '/shutdown') {
    void provider.shutdown().then(() => {
      response.end('bye');
      server.close();
    });
    return;
  }
  const parent = propagation.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter);
  const span = tracer.startSpan('POST /infer', { kind: SpanKind.SERVER }, parent);
  context.with(trace.setSpan(parent, span), () => {
    tracer.startSpan('generate').end();
    span.setAttribute('gen_ai.usage.input_tokens', Number(requestUrl.searchParams.get('input')));
    span.setAttribute('gen_ai.usage.output_tokens', Number(requestUrl.searchParams.get('output')));
    span.end();
  });
  // W3C Trace Context level 2's traceresponse header: the caller learns the ids of the request's span.
  const { traceId, spanId } = span.spanContext();
  response.setHeader('traceresponse', `00-${traceId}-${spanId}-01`);
  response.end('ok');
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});

// The OTel context a request carries (W3C traceparent and baggage), extracted by the OTel
// propagators: the same parsing, limits and percent-decoding as every OTel SDK.
import type { IncomingHttpHeaders } from 'node:http';
import { ROOT_CONTEXT, defaultTextMapGetter, propagation, trace, type Baggage } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { AttributeLookup } from '../attribution/workload-attributes.ts';

const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

export interface RequestContext {
  /** Reads one baggage member's value; the caller reads only allow-listed keys. */
  baggage: AttributeLookup;
  hasBaggage: boolean;
  /** The trace the request belongs to, when it carried a valid traceparent. */
  traceId?: string;
}

export function extractRequestContext(headers: IncomingHttpHeaders): RequestContext {
  // Node lower-cases incoming header names, which is what the propagators ask for.
  const context = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  const baggage: Baggage | undefined = propagation.getBaggage(context);
  const spanContext = trace.getSpanContext(context);
  return {
    baggage: (key) => baggage?.getEntry(key)?.value,
    hasBaggage: baggage !== undefined && baggage.getAllEntries().length > 0,
    ...(spanContext && { traceId: spanContext.traceId }),
  };
}

// What a server built on opentelemetry-cpp 1.13 (NVIDIA Triton pins it) sends over OTLP/HTTP: JSON,
// not protobuf, with the proto field names (snake_case) as keys, trace and span ids in hex and
// int64 values as decimal strings (opentelemetry-cpp@v1.13.0
// exporters/otlp/src/otlp_http_exporter_options.cc: content_type kJson, json_bytes_mapping kHexId,
// use_json_name false; otlp_http_client.cc writes int64 fields as strings). The spans are recorded
// with the OTel JS SDK, caught as the JS JSON exporter sends them, rewritten in that form and POSTed
// to footprint as the C++ exporter would.
import type { Tracer } from '@opentelemetry/api';
import { catchExportBodies } from './otlp-body-catcher.ts';
import { ServingProcess } from './serving-process.ts';

const INT64_FIELDS = new Set(['start_time_unix_nano', 'end_time_unix_nano', 'time_unix_nano', 'int_value']);

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** A JS JSON exporter's request object in opentelemetry-cpp 1.13's JSON form. */
function toOtelCppForm(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => toOtelCppForm(item));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([field, item]) => [snakeCase(field), toOtelCppForm(item, snakeCase(field))]));
  }
  return INT64_FIELDS.has(key) && typeof value === 'number' ? String(value) : value;
}

/** Records spans with `record` in a process of `resource` and POSTs them to `ingestUrl` as opentelemetry-cpp 1.13 does. */
export async function sendAsOtelCpp(
  ingestUrl: string,
  resource: Record<string, string>,
  record: (tracers: { tracer(scope: string): Tracer }) => void,
): Promise<void> {
  const catcher = await catchExportBodies();
  const process = new ServingProcess('http/json', { grpcAddress: '', url: catcher.url }, resource);
  record(process);
  await process.close();
  await catcher.close();
  for (const body of catcher.bodies) {
    const response = await fetch(`${ingestUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(toOtelCppForm(JSON.parse(body.toString('utf8')))),
    });
    if (response.status !== 200) throw new Error(`footprint answered ${response.status}: ${await response.text()}`);
  }
}

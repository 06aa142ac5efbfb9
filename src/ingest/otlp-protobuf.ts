// OTLP/HTTP binary encoding (`application/x-protobuf`): requests are read by the lean wire reader
// (./otlp-wire.ts), answers encoded by protobufjs from the official schema.
import { countSpans, readTraceRequest } from './otlp-wire.ts';
import type { OtlpCodec } from './otlp-schema.ts';

export const protobufCodec: OtlpCodec = {
  contentType: 'application/x-protobuf',
  countSpans,
  decodeRequest: readTraceRequest,
  encode(type, value) {
    return Buffer.from(type.encode(type.fromObject(value)).finish());
  },
};

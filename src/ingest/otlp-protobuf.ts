// OTLP/HTTP binary encoding (`application/x-protobuf`), decoded by protobufjs from the official schema.
import { ExportTraceServiceRequest, OtlpDecodeError, type OtlpCodec, type TraceRequestMessage } from './otlp-schema.ts';

export const protobufCodec: OtlpCodec = {
  contentType: 'application/x-protobuf',
  decodeRequest(body) {
    try {
      return ExportTraceServiceRequest.decode(body) as unknown as TraceRequestMessage;
    } catch (error) {
      // protobufjs throws RangeError for truncation, Error for bad wire types, and overflows the
      // stack on absurd nesting: all of them mean the body is not a request.
      throw new OtlpDecodeError(`invalid protobuf ExportTraceServiceRequest: ${(error as Error).message}`);
    }
  },
  encode(type, value) {
    return Buffer.from(type.encode(type.fromObject(value)).finish());
  },
};

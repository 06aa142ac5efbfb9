// The gRPC framing the call guard follows, over any split of a request's bytes into DATA chunks:
// each message's announced length, where a message starts and where a compressed one completes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GrpcFrameReader } from '../../src/ingest/grpc-frames.ts';
import { grpcMessage } from '../support/grpc-raw.ts';

describe('GrpcFrameReader', () => {
  it('reports each message once, however the bytes are split into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ length: fc.nat(300), compressed: fc.boolean() }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(2000), { maxLength: 8 }),
        (messages, cuts) => {
          const bytes = Buffer.concat(messages.map(({ length, compressed }) => grpcMessage(Buffer.alloc(length, 7), compressed)));
          const offsets = [0, ...cuts.map((cut) => cut % (bytes.length + 1)).sort((a, b) => a - b), bytes.length];
          const reader = new GrpcFrameReader();
          const seen = { prefixBytes: 0, announcedBytes: [] as number[], compressedCompleted: 0 };
          for (let index = 1; index < offsets.length; index++) {
            const frames = reader.read(bytes.subarray(offsets[index - 1], offsets[index]));
            seen.prefixBytes += frames.prefixBytes;
            seen.announcedBytes.push(...frames.announcedBytes);
            seen.compressedCompleted += frames.compressedCompleted;
          }
          expect(seen).toEqual({
            prefixBytes: 5 * messages.length,
            announcedBytes: messages.map(({ length }) => length),
            compressedCompleted: messages.filter(({ compressed }) => compressed).length,
          });
          expect(reader.messagesStarted).toBe(messages.length);
        },
      ),
    );
  });

  it('counts a message as started at its first byte, before its length is whole', () => {
    const reader = new GrpcFrameReader();
    expect(reader.read(Buffer.from([0, 0, 0, 0, 2, 9, 9, 1]))).toEqual({ prefixBytes: 6, announcedBytes: [2], compressedCompleted: 0 });
    expect(reader.messagesStarted).toBe(2);
  });
});

// Follows gRPC's length-prefixed message framing (1 byte compressed flag, 4-byte big-endian length,
// the message; https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md) over a request's
// DATA chunks as they arrive, so the call guard (./grpc-call-guard.ts) can charge a message's
// announced length, and see a second message start, before grpc-js buffers the chunk.

const PREFIX_BYTES = 5;

/** What one chunk held. */
export interface ChunkFrames {
  /** Bytes of message prefixes. */
  prefixBytes: number;
  /** The lengths announced by the prefixes completed in this chunk. */
  announcedBytes: number[];
  /** Compressed messages completed in this chunk. */
  compressedCompleted: number;
}

export class GrpcFrameReader {
  /** Messages whose first byte has arrived. */
  messagesStarted = 0;
  #prefixBytesRead = 0;
  #compressed = false;
  #announcedBytes = 0;
  #bodyBytesLeft = 0;

  read(chunk: Buffer): ChunkFrames {
    const frames: ChunkFrames = { prefixBytes: 0, announcedBytes: [], compressedCompleted: 0 };
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#prefixBytesRead === PREFIX_BYTES) {
        const taken = Math.min(this.#bodyBytesLeft, chunk.length - offset);
        this.#bodyBytesLeft -= taken;
        offset += taken;
      } else {
        const byte = chunk[offset++]!;
        frames.prefixBytes++;
        if (this.#prefixBytesRead === 0) {
          this.messagesStarted++;
          this.#compressed = byte === 1;
          this.#announcedBytes = 0;
        } else {
          this.#announcedBytes = this.#announcedBytes * 256 + byte;
        }
        this.#prefixBytesRead++;
        if (this.#prefixBytesRead === PREFIX_BYTES) {
          this.#bodyBytesLeft = this.#announcedBytes;
          frames.announcedBytes.push(this.#announcedBytes);
        }
      }
      if (this.#prefixBytesRead === PREFIX_BYTES && this.#bodyBytesLeft === 0) {
        if (this.#compressed) frames.compressedCompleted++;
        this.#prefixBytesRead = 0;
      }
    }
    return frames;
  }
}

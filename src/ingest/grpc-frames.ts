// Follows gRPC's length-prefixed message framing (1 byte compressed flag, 4-byte big-endian length,
// the message; https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md) over a request's
// DATA chunks as they arrive, so the call guard (./grpc-call-guard.ts) knows when a second message
// starts on a unary call and when a compressed message is complete, before grpc-js buffers the chunk.

const PREFIX_BYTES = 5;

export class GrpcFrameReader {
  /** Messages whose first byte has arrived. */
  messagesStarted = 0;
  #prefixBytesRead = 0;
  #compressed = false;
  #lengthBytes = 0;
  #bodyBytesLeft = 0;

  /** Reads one chunk; returns how many compressed messages it completed. */
  read(chunk: Buffer): number {
    let completedCompressed = 0;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#prefixBytesRead === PREFIX_BYTES) {
        const taken = Math.min(this.#bodyBytesLeft, chunk.length - offset);
        this.#bodyBytesLeft -= taken;
        offset += taken;
      } else {
        const byte = chunk[offset++]!;
        if (this.#prefixBytesRead === 0) {
          this.messagesStarted++;
          this.#compressed = byte === 1;
          this.#lengthBytes = 0;
        } else {
          this.#lengthBytes = this.#lengthBytes * 256 + byte;
        }
        this.#prefixBytesRead++;
        if (this.#prefixBytesRead === PREFIX_BYTES) this.#bodyBytesLeft = this.#lengthBytes;
      }
      if (this.#prefixBytesRead === PREFIX_BYTES && this.#bodyBytesLeft === 0) {
        if (this.#compressed) completedCompressed++;
        this.#prefixBytesRead = 0;
      }
    }
    return completedCompressed;
  }
}

// One budget for the request-body bytes the process holds at once, across every connection and
// every receiver (OTLP/HTTP here; a gRPC receiver takes from the same budget). A body reserves its
// bytes as they arrive and returns them when its request is done, so N stalled bodies cannot hold
// more than the budget between them, whatever N is.

/** A reservation that would take the budget past its limit. */
export class ByteBudgetExhausted extends Error {}

export interface ByteReservation {
  /** Takes `bytes` more for this body; throws ByteBudgetExhausted when the budget cannot give them. */
  grow(bytes: number): void;
  /** Gives every byte of this body back; safe to call more than once. */
  release(): void;
}

export class ByteBudget {
  #heldBytes = 0;

  constructor(readonly limitBytes: number) {}

  get heldBytes(): number {
    return this.#heldBytes;
  }

  reserve(): ByteReservation {
    let ownBytes = 0;
    return {
      grow: (bytes: number) => {
        if (this.#heldBytes + bytes > this.limitBytes) {
          throw new ByteBudgetExhausted(
            `ingest holds ${this.#heldBytes} body bytes in flight, the limit is ${this.limitBytes} (ingestMaxInflightBytes); retry later`,
          );
        }
        this.#heldBytes += bytes;
        ownBytes += bytes;
      },
      release: () => {
        this.#heldBytes -= ownBytes;
        ownBytes = 0;
      },
    };
  }
}

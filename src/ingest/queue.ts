// The bounded queue between decoding a request and handing its spans to the ledger. Decoding
// happens as bodies arrive; the ledger takes one request per event-loop turn, so a burst of big
// requests cannot starve the metrics listener. When the spans or body bytes waiting would exceed
// their limits, or the process is near its memory budget (memory-guard.ts), the caller answers 429
// (gRPC: RESOURCE_EXHAUSTED) and the exporter retries later.

/** Why an export was refused, for the `footprint.ingest.refusals` counter (attribute `reason`). */
export type RefusalReason = 'memory' | 'queue';

export interface SpanQueueOptions {
  /** Most spans waiting at once. A request is refused only while others wait, so one larger than the limit still gets through. */
  limitSpans: number;
  /** Most request body bytes (decoded) waiting at once; refused, like spans, only while others wait. */
  limitBytes: number;
  /** Why memory cannot take more now (MemoryGuard.pressure); undefined when it can. */
  memoryPressure: () => string | undefined;
  /** Called once for each export refused. */
  onRefusal?: (reason: RefusalReason) => void;
  /** Runs the next turn; setImmediate unless a test wants to hold the queue. */
  schedule?: (turn: () => void) => void;
}

interface Job {
  spans: number;
  bytes: number;
  run: () => void;
  refuse: (reason: string) => void;
}

/** A queued job memory could no longer take when its turn came: answered like a refused offer. */
export class QueueRefusal {
  constructor(readonly reason: string) {}
}

export class SpanQueue {
  readonly limitSpans: number;
  readonly limitBytes: number;
  /** Why the last refused offer was refused, for the 429 answer. */
  lastRefusal = '';
  readonly #memoryPressure: () => string | undefined;
  readonly #onRefusal: (reason: RefusalReason) => void;
  readonly #schedule: (turn: () => void) => void;
  readonly #jobs: Job[] = [];
  #waitingSpans = 0;
  #waitingBytes = 0;
  #scheduled = false;

  constructor({ limitSpans, limitBytes, memoryPressure, onRefusal = () => undefined, schedule = setImmediate }: SpanQueueOptions) {
    this.limitSpans = limitSpans;
    this.limitBytes = limitBytes;
    this.#memoryPressure = memoryPressure;
    this.#onRefusal = onRefusal;
    this.#schedule = schedule;
  }

  get pendingSpans(): number {
    return this.#waitingSpans;
  }

  /** Whether `spans` more spans decoded from `bytes` body bytes would be taken now; when not, `lastRefusal` says why. */
  accepts(spans: number, bytes = 0): boolean {
    const refusal = this.#refusal(spans, bytes);
    if (refusal === undefined) return true;
    this.lastRefusal = refusal.message;
    this.#onRefusal(refusal.reason);
    return false;
  }

  /**
   * Queues `work` for `spans` spans decoded from `bytes` body bytes; undefined when refused (the
   * reason is in `lastRefusal`). Resolves with what `work` returns, or with a QueueRefusal when
   * memory came under pressure while the job waited: requests decoded side by side all passed the
   * check before any of them reached the ledger, so the check is made again at the turn.
   */
  offer<T>(spans: number, work: () => T, bytes = 0): Promise<T | QueueRefusal> | undefined {
    if (!this.accepts(spans, bytes)) return undefined;
    return new Promise<T | QueueRefusal>((resolve, reject) => {
      this.#jobs.push({
        spans,
        bytes,
        run: () => {
          try {
            resolve(work());
          } catch (error) {
            reject(error as Error);
          }
        },
        refuse: (reason) => resolve(new QueueRefusal(reason)),
      });
      this.#waitingSpans += spans;
      this.#waitingBytes += bytes;
      this.#scheduleTurn();
    });
  }

  #refusal(spans: number, bytes: number): { reason: RefusalReason; message: string } | undefined {
    const pressure = this.#memoryPressure();
    if (pressure !== undefined) return { reason: 'memory', message: pressure };
    if (this.#jobs.length === 0) return undefined;
    if (this.#waitingSpans + spans > this.limitSpans) return { reason: 'queue', message: `ingest queue is full (${this.limitSpans} spans)` };
    if (this.#waitingBytes + bytes > this.limitBytes) return { reason: 'queue', message: `ingest queue is full (${this.limitBytes} bytes)` };
    return undefined;
  }

  #scheduleTurn(): void {
    if (this.#scheduled || this.#jobs.length === 0) return;
    this.#scheduled = true;
    this.#schedule(() => {
      this.#scheduled = false;
      const job = this.#jobs.shift();
      if (job) {
        this.#waitingSpans -= job.spans;
        this.#waitingBytes -= job.bytes;
        const pressure = this.#memoryPressure();
        if (pressure === undefined) job.run();
        else {
          this.#onRefusal('memory');
          job.refuse(pressure);
        }
      }
      this.#scheduleTurn();
    });
  }
}

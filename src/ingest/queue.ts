// The bounded queue between decoding a request and handing its spans to the ledger. Decoding
// happens as bodies arrive; the ledger takes one request per event-loop turn, so a burst of big
// requests cannot starve the metrics listener. When the spans waiting would exceed the limit the
// caller answers 429 and the exporter retries later.

export interface SpanQueueOptions {
  /** Most spans waiting at once. A request is refused only while others wait, so one larger than the limit still gets through. */
  limitSpans: number;
  /** Runs the next turn; setImmediate unless a test wants to hold the queue. */
  schedule?: (turn: () => void) => void;
}

interface Job {
  spans: number;
  run: () => void;
}

export class SpanQueue {
  readonly limitSpans: number;
  private readonly schedule: (turn: () => void) => void;
  private readonly jobs: Job[] = [];
  private waitingSpans = 0;
  private scheduled = false;

  constructor({ limitSpans, schedule = setImmediate }: SpanQueueOptions) {
    this.limitSpans = limitSpans;
    this.schedule = schedule;
  }

  get pendingSpans(): number {
    return this.waitingSpans;
  }

  /** Whether `spans` more spans would be taken now. */
  accepts(spans: number): boolean {
    return this.jobs.length === 0 || this.waitingSpans + spans <= this.limitSpans;
  }

  /** Queues `work` for `spans` spans; undefined when the queue is full. Resolves with what `work` returns. */
  offer<T>(spans: number, work: () => T): Promise<T> | undefined {
    if (!this.accepts(spans)) return undefined;
    return new Promise<T>((resolve, reject) => {
      this.jobs.push({
        spans,
        run: () => {
          try {
            resolve(work());
          } catch (error) {
            reject(error as Error);
          }
        },
      });
      this.waitingSpans += spans;
      this.scheduleTurn();
    });
  }

  private scheduleTurn(): void {
    if (this.scheduled || this.jobs.length === 0) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      const job = this.jobs.shift();
      if (job) {
        this.waitingSpans -= job.spans;
        job.run();
      }
      this.scheduleTurn();
    });
  }
}

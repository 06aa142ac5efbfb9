// Token buckets for the windows API: a steady rate with a burst of two seconds' worth, so a client
// that heartbeats and switches phases now and then never meets the limit, while one that flips a
// window thousands of times a second is answered 429 after its burst.

/** A burst of this many seconds of the rate: a few quick calls in a row are normal (open, then a phase). */
const BURST_SECONDS = 2;

export class TokenBucket {
  readonly #ratePerSecond: number;
  readonly #burst: number;
  #tokens: number;
  #updatedMs: number;

  constructor(ratePerSecond: number, nowMs: number) {
    this.#ratePerSecond = ratePerSecond;
    this.#burst = Math.max(1, ratePerSecond * BURST_SECONDS);
    this.#tokens = this.#burst;
    this.#updatedMs = nowMs;
  }

  /** Takes one token: 0 when there was one, else the milliseconds until there is. */
  take(nowMs: number): number {
    this.#refill(nowMs);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.#ratePerSecond) * 1000);
  }

  /** Whether it is back to its full burst, i.e. forgetting it changes nothing. */
  isFull(nowMs: number): boolean {
    this.#refill(nowMs);
    return this.#tokens >= this.#burst;
  }

  #refill(nowMs: number): void {
    const elapsedMs = Math.max(0, nowMs - this.#updatedMs);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsedMs / 1000) * this.#ratePerSecond);
    this.#updatedMs = nowMs;
  }
}

/**
 * One bucket per key (a client). Full buckets are forgotten when the table fills, so it holds only
 * the keys that called within the last burst; when even that is `maxKeys`, a new key waits a second.
 */
export class KeyedRateLimiter {
  readonly #ratePerSecond: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, TokenBucket>();
  #sweptAtMs = Number.NEGATIVE_INFINITY;

  constructor(ratePerSecond: number, maxKeys: number) {
    this.#ratePerSecond = ratePerSecond;
    this.#maxKeys = maxKeys;
  }

  /** Takes one token of `key`'s bucket: 0 when there was one, else the milliseconds until there is. */
  take(key: string, nowMs: number): number {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxKeys) {
        // One pass a second at most: a table full of busy keys would otherwise be scanned on every new key.
        if (nowMs - this.#sweptAtMs >= 1000) {
          this.#sweptAtMs = nowMs;
          for (const [oldKey, oldBucket] of this.#buckets) if (oldBucket.isFull(nowMs)) this.#buckets.delete(oldKey);
        }
        if (this.#buckets.size >= this.#maxKeys) return 1000;
      }
      bucket = new TokenBucket(this.#ratePerSecond, nowMs);
      this.#buckets.set(key, bucket);
    }
    return bucket.take(nowMs);
  }
}

import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter, TokenBucket } from '../../src/ingest/rate-limit.ts';

describe('TokenBucket', () => {
  it('gives a burst of two seconds of its rate, then one token per 1/rate, and says how long to wait', () => {
    const bucket = new TokenBucket(4, 0);
    expect(Array.from({ length: 9 }, () => bucket.take(0))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 250]);
    expect(bucket.take(100)).toBe(150);
    expect(bucket.take(250)).toBe(0);
    expect(bucket.isFull(250)).toBe(false);
    expect(bucket.isFull(2250)).toBe(true);
  });
});

describe('KeyedRateLimiter', () => {
  it('keeps a bucket per key; a full table forgets the keys that are back to a full burst, else makes a new key wait a second', () => {
    const limiter = new KeyedRateLimiter(1, 2);
    expect([limiter.take('a', 0), limiter.take('a', 0), limiter.take('a', 0)]).toEqual([0, 0, 1000]);
    expect(limiter.take('b', 0)).toBe(0);
    expect(limiter.take('c', 0)).toBe(1000); // a and b are busy
    expect(limiter.take('c', 500)).toBe(1000); // swept less than a second ago
    // By 2 s a and b are back to their full burst: forgotten, so c gets a bucket, and so does a again.
    expect(limiter.take('c', 2000)).toBe(0);
    expect(limiter.take('a', 2000)).toBe(0);
    expect(limiter.take('a', 2000)).toBe(0);
    expect(limiter.take('a', 2000)).toBe(1000);
  });
});

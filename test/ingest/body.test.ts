// Gzip bodies inflate as a stream, each chunk counted in the in-flight budget as it inflates and the
// body limit checked after each, a few bodies at a time (issue 19, F6).
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyError, MAX_CONCURRENT_INFLATES, decodeContentEncoding } from '../../src/ingest/body.ts';
import { ByteBudget } from '../../src/ingest/byte-budget.ts';
import { ConcurrencyLimit } from '../../src/ingest/concurrency-limit.ts';

const MiB = 2 ** 20;

async function refusal(promise: Promise<unknown>): Promise<{ status: number; message: string }> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BodyError);
  return { status: (error as BodyError).status, message: (error as BodyError).message };
}

describe('decodeContentEncoding', () => {
  it('stops a gzip bomb at the body limit with 413, having counted no more than the limit in the budget', async () => {
    const budget = new ByteBudget(64 * MiB);
    const reservation = budget.reserve();
    const bomb = gzipSync(Buffer.alloc(64 * MiB));
    expect(await refusal(decodeContentEncoding(bomb, 'gzip', 4 * MiB, reservation))).toEqual({
      status: 413,
      message: `decompressed body exceeds the limit of ${4 * MiB} bytes`,
    });
    // 64 chunks of 64 KiB fit the limit exactly; the 65th is refused before it is counted.
    expect(budget.heldBytes).toBe(4 * MiB);
    reservation.release();
    expect(budget.heldBytes).toBe(0);
  });

  it('answers 503 when the budget cannot take the next inflated chunk', async () => {
    const budget = new ByteBudget(1 * MiB);
    const reservation = budget.reserve();
    const { status } = await refusal(decodeContentEncoding(gzipSync(Buffer.alloc(2 * MiB, 'x')), 'gzip', 4 * MiB, reservation));
    expect(status).toBe(503);
    expect(budget.heldBytes).toBe(1 * MiB);
  });

  it('returns the inflated bytes of a valid body and counts them; 400 for a broken one, 415 for another encoding', async () => {
    const budget = new ByteBudget(64 * MiB);
    const reservation = budget.reserve();
    const text = Buffer.from('{"resourceSpans":[]}'.repeat(10_000));
    expect((await decodeContentEncoding(gzipSync(text), ' GZIP ', 4 * MiB, reservation)).equals(text)).toBe(true);
    expect(budget.heldBytes).toBe(text.length);
    expect((await refusal(decodeContentEncoding(Buffer.from('not gzip'), 'gzip', 4 * MiB))).status).toBe(400);
    expect((await refusal(decodeContentEncoding(text, 'br', 4 * MiB))).status).toBe(415);
    expect(await decodeContentEncoding(text, undefined, 4 * MiB)).toBe(text);
  });

  it(`answers every one of 32 concurrent bombs 413: those past the ${MAX_CONCURRENT_INFLATES} inflating at once wait their turn`, async () => {
    const bomb = gzipSync(Buffer.alloc(64 * MiB));
    const answers = await Promise.all(Array.from({ length: 32 }, () => refusal(decodeContentEncoding(bomb, 'gzip', 4 * MiB))));
    expect(answers.map(({ status }) => status)).toEqual(Array(32).fill(413));
  });
});

describe('ConcurrencyLimit', () => {
  it('runs at most N tasks at once and hands a freed slot to the longest waiter', async () => {
    const limit = new ConcurrencyLimit(2);
    const release: Array<() => void> = [];
    const started: number[] = [];
    const task = (id: number) =>
      limit.run(
        () =>
          new Promise<number>((resolve) => {
            started.push(id);
            release[id] = () => resolve(id);
          }),
      );
    const results = [0, 1, 2, 3].map(task);
    await Promise.resolve();
    expect([started, limit.running]).toEqual([[0, 1], 2]);
    release[1]!();
    await results[1];
    await new Promise((resolve) => setImmediate(resolve));
    expect([started, limit.running]).toEqual([[0, 1, 2], 2]);
    release[0]!();
    release[2]!();
    await new Promise((resolve) => setImmediate(resolve));
    release[3]!();
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3]);
    expect(limit.running).toBe(0);
  });
});

// Label values are capped in UTF-8 bytes, what they cost in the exposition, not in characters: a
// 128-character cap let astral-plane values take 512 bytes each.
import { describe, expect, it } from 'vitest';
import { normaliseAttributeValue, workloadFrom } from '../../src/attribution/workload-attributes.ts';

const GRIN = '\u{1F600}'; // 4 bytes in UTF-8, two UTF-16 code units
const EURO = '\u20AC'; // 3 bytes
const utf8Bytes = (text: string) => Buffer.byteLength(text);
/** No half of a surrogate pair left: the string survives a round trip through UTF-8 unchanged. */
const wellFormed = (text: string) => Buffer.from(text).toString() === text;

describe('label values bounded in bytes', () => {
  it('keeps 128 bytes of ASCII', () => {
    expect(normaliseAttributeValue('x'.repeat(128))).toBe('x'.repeat(128));
    expect(normaliseAttributeValue('x'.repeat(10_000))).toBe('x'.repeat(128));
  });

  it('keeps 32 astral-plane characters (128 bytes), where a character cap kept 128 (512 bytes)', () => {
    expect(normaliseAttributeValue(GRIN.repeat(128))).toBe(GRIN.repeat(32));
  });

  it('cuts on a code-point boundary, never inside a surrogate pair or a UTF-8 sequence', () => {
    // 1 + 31 x 4 = 125 bytes; the 32nd would make 129.
    const astral = normaliseAttributeValue(`a${GRIN.repeat(40)}`)!;
    expect(astral).toBe(`a${GRIN.repeat(31)}`);
    expect([utf8Bytes(astral), wellFormed(astral)]).toEqual([125, true]);
    // 42 x 3 = 126 bytes.
    expect(normaliseAttributeValue(EURO.repeat(50))).toBe(EURO.repeat(42));
    // 2 + 42 x 3 = 128 bytes exactly.
    expect(normaliseAttributeValue(`ab${EURO.repeat(50)}`)).toBe(`ab${EURO.repeat(42)}`);
  });

  it('strips lone surrogates, which the exposition would write as U+FFFD (two values forged to look the same)', () => {
    expect(normaliseAttributeValue('llama\uD800-3')).toBe('llama-3');
    expect(normaliseAttributeValue('\uDC00')).toBeUndefined();
  });

  it('trims a space left at the end by the cut', () => {
    expect(normaliseAttributeValue(`${'x'.repeat(127)} ${GRIN}`)).toBe('x'.repeat(127));
  });

  it('bounds a phase after lower-casing, which can add bytes (U+0130 is 2 bytes, its lower case 3)', () => {
    const phase = workloadFrom([(key) => (key === 'ml.phase' ? '\u0130'.repeat(64) : undefined)]).phase!;
    expect(utf8Bytes('\u0130'.repeat(64))).toBe(128);
    expect(phase).toBe('i\u0307'.repeat(42).concat('i'));
    expect(utf8Bytes(phase)).toBe(127);
  });

  it('bounds every workload field the same way', () => {
    const long = GRIN.repeat(100);
    const workload = workloadFrom([(key) => (key.startsWith('ml.') || key.startsWith('k8s.') ? long : undefined)]);
    expect(Object.values(workload).map(utf8Bytes)).toEqual([128, 128, 128, 128, 128]);
  });
});

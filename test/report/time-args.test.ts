import { describe, expect, it } from 'vitest';
import { parseDurationArg, parseTimeArg, ReportArgumentError, resolveWindow } from '../../src/report/time-args.ts';

const NOW = 1_738_281_600.75; // 2025-01-31T00:00:00.750Z

describe('report time arguments', () => {
  it('accepts RFC 3339, unix seconds and now-relative values, truncated to whole seconds', () => {
    expect(parseTimeArg('--from', '2025-01-01T00:00:00Z', NOW)).toBe(1_735_689_600);
    expect(parseTimeArg('--from', '2025-01-01T01:00:00+01:00', NOW)).toBe(1_735_689_600);
    expect(parseTimeArg('--from', '2025-01-01', NOW)).toBe(1_735_689_600);
    expect(parseTimeArg('--from', '1735689600', NOW)).toBe(1_735_689_600);
    expect(parseTimeArg('--to', 'now', NOW)).toBe(1_738_281_600);
    expect(parseTimeArg('--from', 'now-30d', NOW)).toBe(1_738_281_600 - 30 * 86_400);
    expect(parseTimeArg('--from', 'now - 12h', NOW)).toBe(1_738_281_600 - 12 * 3600);
  });

  it('names the flag and the accepted forms for a malformed value', () => {
    for (const bad of ['yesterday', 'now-3x', '2025-13-45T00:00:00Z', '01/02/2025', '']) {
      expect(() => parseTimeArg('--from', bad, NOW)).toThrow(ReportArgumentError);
      expect(() => parseTimeArg('--from', bad, NOW)).toThrow(/^--from: cannot parse ".*"; use RFC 3339/);
    }
  });

  it('rejects a window whose start is not before its end', () => {
    expect(() => resolveWindow('now', 'now-1d', NOW)).toThrow(/^--from \(2025-01-31T00:00:00.000Z\) must be before --to \(2025-01-30T00:00:00.000Z\)$/);
    expect(resolveWindow('now-7d', 'now', NOW)).toEqual({ fromSeconds: 1_738_281_600 - 7 * 86_400, toSeconds: 1_738_281_600 });
  });

  it('parses steps as whole seconds', () => {
    expect(parseDurationArg('--step', '5m')).toBe(300);
    expect(parseDurationArg('--step', '1d')).toBe(86_400);
    expect(() => parseDurationArg('--step', '1500ms')).toThrow(/^--step: expected a whole number of seconds/);
    expect(() => parseDurationArg('--step', 'hourly')).toThrow(/^--step/);
  });
});

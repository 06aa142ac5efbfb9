import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Activity } from '../../src/attribution/activity.ts';
import { unknownDeviceWarner } from '../../src/attribution/unknown-devices.ts';
import type { Device } from '../../src/devices/source.ts';

const gpu = (id: string): Device => ({ id, type: 'gpu', name: 'H100', vendor: 'nvidia', method: 'counter', hostRole: 'external' });
const span = (deviceIds?: string[]): Activity => ({ source: 'span', workload: { model: 'm' }, startMs: 0, endMs: 1, deviceIds });

describe('unknownDeviceWarner', () => {
  it('warns once per hw.id that names no device, and follows devices added later', () => {
    const lines: { hwId: string; msg: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const devices = [gpu('GPU-aaaa')];
    const warn = unknownDeviceWarner(devices, logger);
    warn(span(['GPU-aaaa']));
    warn(span());
    warn(span(['0', 'GPU-aaaa']));
    warn(span(['0']));
    expect(lines.map((line) => line.hwId)).toEqual(['0']);
    expect(lines[0]!.msg).toBe(
      "hw.id '0' names no device of this node, so activities on it take no energy; use one of the hw_id values in /metrics (a GPU's UUID, not its index)",
    );
    devices.push(gpu('GPU-bbbb'));
    warn(span(['GPU-bbbb', 'GPU-cccc']));
    expect(lines.map((line) => line.hwId)).toEqual(['0', 'GPU-cccc']);
  });

  it('stops remembering ids after 100, so hostile input stays bounded', () => {
    const lines: unknown[] = [];
    const warn = unknownDeviceWarner([], pino({ level: 'warn' }, { write: (line: string) => lines.push(line) }));
    for (let index = 0; index < 1000; index++) warn(span([`bogus-${index}`]));
    expect(lines).toHaveLength(100);
  });
});

// An activity whose hw.id names no device of this node takes no energy: say so once per id, so a
// client sending GPU indexes instead of UUIDs finds out from the log rather than from empty series.
import type { Logger } from 'pino';
import type { Device } from '../devices/source.ts';
import type { Activity } from './activity.ts';

/** Ids warned about are remembered up to this many, so hostile input cannot grow the set without bound. */
const MAX_WARNED_IDS = 100;

export function unknownDeviceWarner(devices: readonly Device[], logger: Logger): (activity: Activity) => void {
  const warned = new Set<string>();
  return (activity) => {
    if (!activity.deviceIds || warned.size >= MAX_WARNED_IDS) return;
    for (const id of activity.deviceIds) {
      // A node has a handful of devices, and rediscovery changes the list in place: a scan is cheapest.
      if (warned.has(id) || devices.some((device) => device.id === id)) continue;
      warned.add(id);
      logger.warn(
        { hwId: id, known: devices.map((device) => device.id) },
        `hw.id '${id}' names no device of this node, so activities on it take no energy; use one of the hw_id values in /metrics (a GPU's UUID, not its index)`,
      );
    }
  };
}

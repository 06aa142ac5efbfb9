// NVIDIA's device id formats, as the kubelet's device plugin advertises them, resolved to the board
// they run on. Only src/devices/ knows these formats; attribution asks through GpuPartitions (source.ts).
import type { GpuPlacement } from './source.ts';

/** Time-sliced GPUs are advertised as `<uuid>::<replica>` (k8s-device-plugin sharing); the replica is not a device. */
const REPLICA_SUFFIX = /::\d+$/;
/** The pre-R470 MIG device ID names its board: `MIG-GPU-<board uuid>/<gi>/<ci>`. */
const LEGACY_MIG_ID = /^MIG-(GPU-[0-9a-f-]+)\/\d+\/\d+$/i;
/** `nvidia.com/mig-3g.40gb`: three of the board's compute slices. */
const MIG_SLICES = /\/mig-(\d+)g\./;

/**
 * The board an allocated NVIDIA device id runs on and how many compute slices it holds: a MIG
 * instance UUID (`MIG-<uuid>`, R470+) through `migParent`, a legacy MIG id through the board UUID it
 * embeds, a replica through its board UUID. Undefined for a MIG instance whose board is unknown.
 */
export function nvidiaPlacement(deviceId: string, resourceName: string, migParent: (migUuid: string) => string | undefined): GpuPlacement | undefined {
  const id = deviceId.replace(REPLICA_SUFFIX, '');
  const boardId = id.startsWith('MIG-') ? (migParent(id) ?? LEGACY_MIG_ID.exec(id)?.[1]) : id;
  if (boardId === undefined) return undefined;
  return { boardId, slices: Number(MIG_SLICES.exec(resourceName)?.[1] ?? 1) };
}

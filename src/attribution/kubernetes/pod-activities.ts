// Kubernetes ownership as activities, the default attribution when no span or window says more:
// - a GPU's energy goes to the pod the kubelet allocated it to (PodResources); a MIG instance's pod
//   shares its board with the other instances' pods, weighted by compute slices;
// - a GPU no pod was allocated goes to the pods whose processes run on it, weighted by their GPU memory;
// - a CPU package's energy goes to pods by their CPU time: fraction = pod CPU seconds / (CPUs x seconds),
//   the rest stays with the ledger's idle.
// `refresh` samples the node (async I/O) each tick; `activitiesBetween` answers from the samples later.
import type { Activity, ActivityProvider, Workload } from '../activity.ts';
import type { DeviceProcess, GpuPlacement } from '../../devices/source.ts';
import { podOfPid } from './cgroup.ts';
import { readOnlineCpuCount, readPodCpuSeconds } from './cpu-time.ts';
import type { DeviceAllocation } from './pod-resources.ts';
import type { PodInfo } from './pod-metadata.ts';
import { Timeline, type TimedValue } from './timeline.ts';

/** What the provider needs of the pod metadata watcher. */
export interface PodLookup {
  byUid(uid: string): PodInfo | undefined;
  byName(namespace: string, name: string): PodInfo | undefined;
}

export interface PodActivitiesOptions {
  hostRoot: string;
  /** The GPU boards whose energy is measured (hw.id = board UUID). */
  gpuDeviceIds: () => string[];
  /** The devices split by CPU time (RAPL packages, and DRAM if the daemon chooses). */
  cpuDeviceIds: () => string[];
  /** Pod metadata; without it pods are known only by the kubelet's namespace/name and CPU time is not attributed. */
  pods?: PodLookup;
  /** The kubelet's device allocations (PodResourcesClient.list); absent when the socket is not mounted. */
  allocations?: () => Promise<DeviceAllocation[]>;
  /** Processes on the GPUs (the NVML source's `processes`). */
  processes?: () => Promise<DeviceProcess[]>;
  /**
   * The board of an allocated device id that is not a board itself (a MIG instance, a time-sliced
   * replica), from the GPU sources that partition boards; without it an id names its board.
   */
  placeAllocation?: (deviceId: string, resourceName: string) => GpuPlacement | undefined;
  /** Online CPUs of the host; read from <hostRoot>/sys/devices/system/cpu/online when absent. */
  cpuCount?: number;
  /** How long samples are kept: more than the ledger's attribution lag plus one interval. */
  retentionMs?: number;
  /** A sampling step failed; the previous state keeps holding. */
  onError?: (step: 'pod-resources' | 'processes' | 'cpu', error: unknown) => void;
}

/** A pod's share of one GPU board while a sample holds. */
interface GpuShare {
  deviceId: string;
  workload: Workload;
  weight: number;
}

interface CpuSample {
  /** Pod UID -> cumulative CPU seconds. */
  usage: Map<string, number>;
  workloads: Map<string, Workload>;
}

export class PodActivityProvider implements ActivityProvider {
  readonly name = 'kubernetes';
  readonly #options: PodActivitiesOptions;
  readonly #retentionMs: number;
  readonly #gpuShares = new Timeline<GpuShare[]>();
  readonly #cpuSamples = new Timeline<CpuSample>();
  #allocationsSeen: DeviceAllocation[] = [];
  /** Board id -> the pods (`namespace/name`) the kubelet allocated it to (or a partition of it), as last sampled. */
  #boardPods = new Map<string, Set<string>>();
  #cpuCount: number | undefined;

  constructor(options: PodActivitiesOptions) {
    this.#options = options;
    this.#retentionMs = options.retentionMs ?? 600_000;
    this.#cpuCount = options.cpuCount;
  }

  /** Samples allocations, GPU processes and pod CPU time as of `nowMs`. Never throws. */
  async refresh(nowMs: number): Promise<void> {
    const [shares, cpu] = await Promise.all([this.#sampleGpuShares(), this.#sampleCpu()]);
    this.#gpuShares.set(nowMs, shares);
    if (cpu) this.#cpuSamples.set(nowMs, cpu);
    this.#gpuShares.prune(nowMs - this.#retentionMs);
    this.#cpuSamples.prune(nowMs - this.#retentionMs);
  }

  /**
   * The GPUs a pod of this node owns or runs on, as last sampled; `undefined` when the pod is not
   * known here. A span from the pod that names no hw.id ran on these, not on every device of the node.
   */
  devicesOfPod(namespace: string, pod: string): string[] | undefined {
    if (!this.#options.pods?.byName(namespace, pod)) return undefined;
    const latest = this.#gpuShares.points().at(-1)?.value ?? [];
    return [...new Set(latest.filter((share) => share.workload.namespace === namespace && share.workload.pod === pod).map((share) => share.deviceId))];
  }

  /** Whether the last sample found any GPU's pod (an allocation, or a pod's process on it). */
  knowsGpuOwners(): boolean {
    return (this.#gpuShares.points().at(-1)?.value.length ?? 0) > 0;
  }

  /**
   * Whether the kubelet allocated this board (or a partition of it) to pods other than this one, as
   * last sampled: a span from this pod may not name it. Boards no pod was allocated are anyone's.
   */
  isAllocatedElsewhere(deviceId: string, namespace: string, pod: string): boolean {
    const pods = this.#boardPods.get(deviceId);
    return pods !== undefined && !pods.has(`${namespace}/${pod}`);
  }

  activitiesBetween(startMs: number, endMs: number): Activity[] {
    return [...this.#gpuActivities(startMs, endMs), ...this.#cpuActivities(startMs, endMs)];
  }

  #gpuActivities(startMs: number, endMs: number): Activity[] {
    const activities: Activity[] = [];
    const open = new Map<string, Activity>();
    for (const segment of this.#gpuShares.between(startMs, endMs)) {
      for (const share of segment.value) {
        const key = JSON.stringify([share.deviceId, share.weight, share.workload]);
        const previous = open.get(key);
        // The same share in consecutive samples is one activity, not one per sample.
        if (previous && previous.endMs === segment.startMs) {
          previous.endMs = segment.endMs;
          continue;
        }
        const activity: Activity = {
          source: 'pod',
          workload: share.workload,
          startMs: segment.startMs,
          endMs: segment.endMs,
          deviceIds: [share.deviceId],
          weight: share.weight,
        };
        open.set(key, activity);
        activities.push(activity);
      }
    }
    return activities;
  }

  #cpuActivities(startMs: number, endMs: number): Activity[] {
    const samples = samplesAround(this.#cpuSamples.points(), startMs, endMs);
    const cpuCount = this.#cpuCount;
    const deviceIds = this.#options.cpuDeviceIds();
    if (samples.length === 0 || !cpuCount || deviceIds.length === 0 || endMs <= startMs) return [];
    const capacitySeconds = (cpuCount * (endMs - startMs)) / 1000;
    const pods = new Map<string, { workload: Workload; cpuSeconds: number }>();
    for (const { value } of samples) {
      for (const [uid, workload] of value.workloads) {
        if (pods.has(uid)) continue;
        const cpuSeconds = cumulativeAt(samples, uid, endMs) - cumulativeAt(samples, uid, startMs);
        pods.set(uid, { workload, cpuSeconds });
      }
    }
    for (const [uid, pod] of pods) if (!(pod.cpuSeconds > 0)) pods.delete(uid);
    const total = [...pods.values()].reduce((sum, pod) => sum + pod.cpuSeconds, 0);
    // Counters sampled a little apart can add up to more than the capacity; never hand out more than all of it.
    const scale = total > capacitySeconds ? capacitySeconds / total : 1;
    // Sorted by pod UID: the cgroup directory listing order is the filesystem's, not stable.
    return [...pods.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, { workload, cpuSeconds }]) => ({
        source: 'pod' as const,
        workload,
        startMs,
        endMs,
        deviceIds,
        fraction: (cpuSeconds * scale) / capacitySeconds,
      }));
  }

  async #sampleGpuShares(): Promise<GpuShare[]> {
    const boards = new Set(this.#options.gpuDeviceIds());
    const owned = await this.#allocatedShares(boards);
    const boardPods = new Map<string, Set<string>>();
    for (const { deviceId, workload } of owned) {
      const pods = boardPods.get(deviceId) ?? boardPods.set(deviceId, new Set()).get(deviceId)!;
      pods.add(`${workload.namespace}/${workload.pod}`);
    }
    this.#boardPods = boardPods;
    const ownedBoards = new Set(boardPods.keys());
    const unowned = new Set([...boards].filter((board) => !ownedBoards.has(board)));
    return [...owned, ...(unowned.size > 0 ? await this.#processShares(unowned) : [])];
  }

  async #allocatedShares(boards: Set<string>): Promise<GpuShare[]> {
    if (this.#options.allocations) {
      try {
        this.#allocationsSeen = await this.#options.allocations();
      } catch (error) {
        // A restarting kubelet: the allocations it last reported still stand.
        this.#options.onError?.('pod-resources', error);
      }
    }
    const shares = new Map<string, GpuShare>();
    for (const allocation of this.#allocationsSeen) {
      const placement = this.#options.placeAllocation?.(allocation.deviceId, allocation.resourceName) ?? { boardId: allocation.deviceId, slices: 1 };
      if (!boards.has(placement.boardId)) continue;
      const workload = this.#options.pods?.byName(allocation.namespace, allocation.pod)?.workload ?? {
        namespace: allocation.namespace,
        pod: allocation.pod,
      };
      addShare(shares, { deviceId: placement.boardId, workload, weight: placement.slices });
    }
    return [...shares.values()];
  }

  async #processShares(boards: Set<string>): Promise<GpuShare[]> {
    let processes: DeviceProcess[];
    try {
      processes = (await this.#options.processes?.()) ?? [];
    } catch (error) {
      this.#options.onError?.('processes', error);
      return [];
    }
    // GPU sources report processes on their boards' ids.
    const onBoards = processes.filter((process) => boards.has(process.deviceId));
    const resolved = await Promise.all(
      onBoards.map(async (process) => {
        const pod = await podOfPid(this.#options.hostRoot, process.pid);
        return { process, workload: pod && this.#options.pods?.byUid(pod.podUid)?.workload };
      }),
    );
    // Memory is a fair split only when every process on the board reports it; otherwise pods share equally.
    const byMemory = new Map<string, boolean>();
    for (const { deviceId, usedMemoryBytes } of onBoards) {
      byMemory.set(deviceId, (byMemory.get(deviceId) ?? true) && (usedMemoryBytes ?? 0) > 0);
    }
    const shares = new Map<string, GpuShare>();
    for (const { process, workload } of resolved) {
      if (!workload) continue;
      const weight = byMemory.get(process.deviceId) ? process.usedMemoryBytes! : 1;
      addShare(shares, { deviceId: process.deviceId, workload, weight });
    }
    // Without memory figures each pod counts once, however many processes it runs on the board.
    for (const share of shares.values()) if (!byMemory.get(share.deviceId)) share.weight = 1;
    return [...shares.values()];
  }

  async #sampleCpu(): Promise<CpuSample | undefined> {
    const pods = this.#options.pods;
    if (!pods) return undefined;
    try {
      this.#cpuCount ??= await readOnlineCpuCount(this.#options.hostRoot);
      const usage = await readPodCpuSeconds(this.#options.hostRoot);
      const workloads = new Map<string, Workload>();
      for (const uid of usage.keys()) {
        const workload = pods.byUid(uid)?.workload;
        if (workload) workloads.set(uid, workload);
      }
      return { usage, workloads };
    } catch (error) {
      this.#options.onError?.('cpu', error);
      return undefined;
    }
  }
}

/** Adds a share, summing the weight of a pod that appears on one board more than once (several containers or processes). */
function addShare(shares: Map<string, GpuShare>, share: GpuShare): void {
  const key = JSON.stringify([share.deviceId, share.workload]);
  const existing = shares.get(key);
  if (existing) existing.weight += share.weight;
  else shares.set(key, share);
}

/** The samples from the last one at or before `startMs` to the first one at or after `endMs`: all that interpolation needs. */
function samplesAround<T>(samples: readonly TimedValue<T>[], startMs: number, endMs: number): readonly TimedValue<T>[] {
  let from = 0;
  while (from + 1 < samples.length && samples[from + 1]!.timeMs <= startMs) from++;
  let to = from;
  while (to + 1 < samples.length && samples[to]!.timeMs < endMs) to++;
  return samples.slice(from, to + 1);
}

/**
 * A pod's cumulative CPU seconds at `timeMs`, linear between the samples around it; before its first
 * sample it is that sample's value and after its last the last one's, so a range outside the samples counts nothing.
 */
function cumulativeAt(samples: readonly TimedValue<CpuSample>[], uid: string, timeMs: number): number {
  let before: { timeMs: number; seconds: number } | undefined;
  for (const { timeMs: sampleMs, value } of samples) {
    const seconds = value.usage.get(uid);
    if (seconds === undefined) continue;
    if (sampleMs >= timeMs) {
      if (!before || sampleMs === timeMs) return seconds;
      return before.seconds + ((seconds - before.seconds) * (timeMs - before.timeMs)) / (sampleMs - before.timeMs);
    }
    before = { timeMs: sampleMs, seconds };
  }
  return before?.seconds ?? 0;
}

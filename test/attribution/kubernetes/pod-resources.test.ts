// The client against a fake kubelet serving the same proto on a unix socket, stopped and replaced as a kubelet restart does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PodResourcesClient, podResourcesSocketPath } from '../../../src/attribution/kubernetes/pod-resources.ts';
import { podWithDevices, startFakeKubelet } from '../../support/k8s-kubelet.ts';

describe('PodResourcesClient', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('lists device allocations and reconnects after a kubelet restart', async () => {
    const hostRoot = await mkdtemp(join(tmpdir(), 'footprint-podres-'));
    cleanups.push(() => rm(hostRoot, { recursive: true, force: true }));
    const socketPath = podResourcesSocketPath(hostRoot);

    const first = await startFakeKubelet(socketPath, [
      podWithDevices('ml', 'vllm-0', 'nvidia.com/gpu', ['GPU-aaaa']),
      { name: 'no-devices', namespace: 'kube-system', containers: [{ name: 'c', devices: [] }] },
    ]);
    const client = new PodResourcesClient({ socketPath, timeoutMs: 1000 });
    cleanups.push(async () => client.close());

    expect(await client.list()).toEqual([{ namespace: 'ml', pod: 'vllm-0', container: 'main', resourceName: 'nvidia.com/gpu', deviceId: 'GPU-aaaa' }]);

    // The kubelet stops and its socket goes: the client reports the outage instead of stale success.
    await first.stop();
    await expect(client.list()).rejects.toThrow(/kubelet pod-resources at .*kubelet\.sock/);

    // A new kubelet on a new socket, with a new allocation: the same client sees it.
    const second = await startFakeKubelet(socketPath, [podWithDevices('ml', 'trainer-0', 'nvidia.com/mig-3g.40gb', ['MIG-bbbb', 'MIG-cccc'])]);
    cleanups.push(() => second.stop());
    expect(await client.list()).toEqual([
      { namespace: 'ml', pod: 'trainer-0', container: 'main', resourceName: 'nvidia.com/mig-3g.40gb', deviceId: 'MIG-bbbb' },
      { namespace: 'ml', pod: 'trainer-0', container: 'main', resourceName: 'nvidia.com/mig-3g.40gb', deviceId: 'MIG-cccc' },
    ]);
  });
});

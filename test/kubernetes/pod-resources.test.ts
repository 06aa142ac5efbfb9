// A fake kubelet serving the same proto on a unix socket, stopped and replaced as a kubelet restart does.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadPodResourcesPackage,
  PodResourcesClient,
  podResourcesSocketPath,
  type ListPodResourcesResponse,
} from '../../src/attribution/kubernetes/pod-resources.ts';

async function startKubelet(socketPath: string, response: ListPodResourcesResponse): Promise<grpc.Server> {
  const server = new grpc.Server();
  const lister = loadPodResourcesPackage().PodResourcesLister as grpc.ServiceClientConstructor;
  server.addService(lister.service, {
    List: (_call: unknown, callback: grpc.sendUnaryData<ListPodResourcesResponse>) => callback(null, response),
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
  );
  return server;
}

function podWith(name: string, resourceName: string, deviceIds: string[]): ListPodResourcesResponse['pod_resources'][number] {
  return { name, namespace: 'ml', containers: [{ name: 'main', devices: [{ resource_name: resourceName, device_ids: deviceIds }] }] };
}

describe('PodResourcesClient', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('lists device allocations and reconnects after a kubelet restart', async () => {
    const hostRoot = await mkdtemp(join(tmpdir(), 'footprint-podres-'));
    cleanups.push(() => rm(hostRoot, { recursive: true, force: true }));
    const socketPath = podResourcesSocketPath(hostRoot);
    await mkdir(join(socketPath, '..'), { recursive: true });

    const first = await startKubelet(socketPath, {
      pod_resources: [
        podWith('vllm-0', 'nvidia.com/gpu', ['GPU-aaaa']),
        { name: 'no-devices', namespace: 'kube-system', containers: [{ name: 'c', devices: [] }] },
      ],
    });
    const client = new PodResourcesClient({ socketPath, timeoutMs: 1000 });
    cleanups.push(async () => client.close());

    expect(await client.list()).toEqual([
      { namespace: 'ml', pod: 'vllm-0', container: 'main', resourceName: 'nvidia.com/gpu', deviceId: 'GPU-aaaa' },
    ]);

    // The kubelet stops: its socket is removed, and the client reports the outage instead of stale success.
    await new Promise<void>((resolve) => first.tryShutdown(() => resolve()));
    await rm(socketPath, { force: true });
    await expect(client.list()).rejects.toThrow(/kubelet pod-resources at .*kubelet\.sock/);

    // A new kubelet on a new socket, with a new allocation: the same client sees it.
    const second = await startKubelet(socketPath, {
      pod_resources: [podWith('trainer-0', 'nvidia.com/mig-3g.40gb', ['MIG-bbbb', 'MIG-cccc'])],
    });
    cleanups.push(() => new Promise<void>((resolve) => second.tryShutdown(() => resolve())));
    expect(await client.list()).toEqual([
      { namespace: 'ml', pod: 'trainer-0', container: 'main', resourceName: 'nvidia.com/mig-3g.40gb', deviceId: 'MIG-bbbb' },
      { namespace: 'ml', pod: 'trainer-0', container: 'main', resourceName: 'nvidia.com/mig-3g.40gb', deviceId: 'MIG-cccc' },
    ]);
  });
});

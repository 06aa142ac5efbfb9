// A fake kubelet serving the PodResources v1 List on a unix socket, from the same proto the client
// loads. Stopping it removes the socket, as a kubelet restart does; a new one binds the same path.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadPodResourcesPackage, type ListPodResourcesResponse } from '../../src/attribution/kubernetes/pod-resources.ts';

export type PodResources = ListPodResourcesResponse['pod_resources'][number];

export interface FakeKubelet {
  socketPath: string;
  /** How many List calls it has answered. */
  listCalls(): number;
  /** Shuts down and removes the socket. */
  stop(): Promise<void>;
}

/** One pod whose container `main` holds `deviceIds` of `resourceName`. */
export function podWithDevices(namespace: string, name: string, resourceName: string, deviceIds: string[]): PodResources {
  return { name, namespace, containers: [{ name: 'main', devices: [{ resource_name: resourceName, device_ids: deviceIds }] }] };
}

export async function startFakeKubelet(socketPath: string, pods: PodResources[]): Promise<FakeKubelet> {
  mkdirSync(dirname(socketPath), { recursive: true });
  const server = new grpc.Server();
  const lister = loadPodResourcesPackage().PodResourcesLister as grpc.ServiceClientConstructor;
  let calls = 0;
  server.addService(lister.service, {
    List: (_call: unknown, callback: grpc.sendUnaryData<ListPodResourcesResponse>) => {
      calls++;
      callback(null, { pod_resources: pods });
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
  );
  return {
    socketPath,
    listCalls: () => calls,
    async stop() {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      rmSync(socketPath, { force: true });
    },
  };
}

// The kubelet PodResources v1 API: which pod and container the device plugins gave each device to.
// The kubelet serves it on a unix socket and has no watch, so the caller polls List. When the kubelet
// restarts it deletes and recreates the socket; the client then dials the new one (the DaemonSet
// mounts the directory, not the socket file, so the new inode is visible).
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO_PATH = fileURLToPath(new URL('./podresources-v1.proto', import.meta.url));

/** One device allocated to one container. */
export interface DeviceAllocation {
  namespace: string;
  pod: string;
  container: string;
  /** Extended resource name: `nvidia.com/gpu`, `nvidia.com/mig-1g.10gb`, `amd.com/gpu`. */
  resourceName: string;
  /** The device plugin's ID: a GPU UUID, a MIG UUID, `GPU-<uuid>::<n>` when time-sliced. */
  deviceId: string;
}

/** The wire shapes of the response, as proto-loader decodes them (keepCase). */
export interface ListPodResourcesResponse {
  pod_resources: {
    name: string;
    namespace: string;
    containers: { name: string; devices: { resource_name: string; device_ids: string[] }[] }[];
  }[];
}

/** The loaded gRPC package `v1`; exported so a test kubelet serves exactly the proto the client speaks. */
export function loadPodResourcesPackage(): grpc.GrpcObject {
  const definition = loadSync(PROTO_PATH, { keepCase: true, longs: Number, defaults: true, arrays: true });
  return grpc.loadPackageDefinition(definition).v1 as grpc.GrpcObject;
}

/** Where the kubelet serves the API, seen under --host-root. */
export function podResourcesSocketPath(hostRoot: string): string {
  return join(hostRoot, 'var', 'lib', 'kubelet', 'pod-resources', 'kubelet.sock');
}

export interface PodResourcesClientOptions {
  socketPath: string;
  /** Bound on one List call, so a hung kubelet cannot stall the caller. */
  timeoutMs?: number;
}

type ListerClient = grpc.Client & {
  List(request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: ListPodResourcesResponse) => void): void;
};

export class PodResourcesClient {
  readonly #socketPath: string;
  readonly #timeoutMs: number;
  readonly #Lister: grpc.ServiceClientConstructor;
  #client: ListerClient | undefined;

  constructor({ socketPath, timeoutMs = 2000 }: PodResourcesClientOptions) {
    this.#socketPath = socketPath;
    this.#timeoutMs = timeoutMs;
    this.#Lister = loadPodResourcesPackage().PodResourcesLister as grpc.ServiceClientConstructor;
  }

  /** Every device allocation on the node. Rejects when the kubelet cannot be reached. */
  async list(): Promise<DeviceAllocation[]> {
    const client = this.#connect();
    try {
      const response = await new Promise<ListPodResourcesResponse>((resolve, reject) => {
        client.List({}, { deadline: Date.now() + this.#timeoutMs }, (error, value) => (error ? reject(error) : resolve(value!)));
      });
      return allocationsOf(response);
    } catch (error) {
      // Drop the channel: after a kubelet restart a fresh dial reaches the new socket at once,
      // where the old channel would wait out its reconnect backoff.
      this.close();
      throw new Error(`kubelet pod-resources at ${this.#socketPath}: ${(error as grpc.ServiceError).details ?? error}`);
    }
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  #connect(): ListerClient {
    this.#client ??= new this.#Lister(`unix://${this.#socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5000,
    }) as unknown as ListerClient;
    return this.#client;
  }
}

function allocationsOf(response: ListPodResourcesResponse): DeviceAllocation[] {
  return response.pod_resources.flatMap((pod) =>
    pod.containers.flatMap((container) =>
      container.devices.flatMap((devices) =>
        devices.device_ids.map((deviceId) => ({
          namespace: pod.namespace,
          pod: pod.name,
          container: container.name,
          resourceName: devices.resource_name,
          deviceId,
        })),
      ),
    ),
  );
}

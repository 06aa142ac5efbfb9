// `npm run bench` part 3: the built daemon in Kubernetes mode on a node full of pods (110, the kubelet's
// default max-pods), its pod metadata listed and watched from the loopback API server and its
// allocations from the fake kubelet, on the same RAPL fixture; RSS after a steady window.
import { join } from 'node:path';
import { podResourcesSocketPath } from '../src/attribution/kubernetes/pod-resources.ts';
import { startFakeApiServer, type ApiPod } from '../test/support/k8s-api-server.ts';
import { startFakeKubelet } from '../test/support/k8s-kubelet.ts';
import { spawnDaemon } from '../test/support/daemon-process.ts';
import { sleep } from '../test/support/eventually.ts';
import { IMAGE_ENV, rssMiB } from './support.ts';

const NODE = 'bench-node';
const PODS = 110;

/**
 * A pod as the API server returns it, at a typical size (about 4 KB of JSON): a Deployment's pod with
 * one container, env, mounts, and the status conditions and container status the kubelet writes
 * (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/).
 */
function benchPod(index: number): ApiPod {
  const app = `svc-${index % 20}`;
  const hash = '7d9f8b6c5';
  const uid = `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${app}-${hash}-${String(index).padStart(5, '0')}`,
      namespace: `team-${index % 7}`,
      uid,
      labels: { app, 'pod-template-hash': hash, 'footprint.dev/model': `model-${index % 11}`, 'app.kubernetes.io/part-of': 'inference' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-01T00:00:00Z', 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hash}`, uid: `rs-${index % 20}`, controller: true }],
    },
    spec: {
      nodeName: NODE,
      containers: [
        {
          name: 'main',
          // Fields the daemon never reads, at their usual size: the parser must drop them.
          image: `registry.example/${app}:1.${index}`,
          env: Array.from({ length: 12 }, (_, env) => ({ name: `SETTING_${env}`, value: `value-${index}-${env}` })),
          volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
          resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } },
        },
      ],
    },
    status: {
      podIP: `10.244.${Math.floor(index / 250)}.${(index % 250) + 2}`,
      podIPs: [{ ip: `10.244.${Math.floor(index / 250)}.${(index % 250) + 2}` }],
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
        type,
        status: 'True',
        lastTransitionTime: '2026-11-01T00:00:00Z',
      })),
      containerStatuses: [
        {
          name: 'main',
          ready: true,
          restartCount: 0,
          image: `registry.example/${app}:1.${index}`,
          containerID: `containerd://${'c'.repeat(64)}`,
          state: { running: { startedAt: '2026-11-01T00:00:00Z' } },
        },
      ],
    },
  };
  return pod;
}

/**
 * Starts the daemon in Kubernetes mode on `hostRoot`, scrapes it as the RAPL-only run was scraped
 * (`scrape`), waits `steadySeconds`, and returns its RSS (MiB).
 */
export async function benchKubernetes(hostRoot: string, steadySeconds: number, scrape: (url: string) => Promise<unknown>): Promise<number> {
  const pods = Array.from({ length: PODS }, (_, index) => benchPod(index));
  const api = await startFakeApiServer(pods);
  const kubelet = await startFakeKubelet(
    podResourcesSocketPath(hostRoot),
    pods.map((pod) => ({ name: pod.metadata.name, namespace: pod.metadata.namespace, containers: [{ name: 'main', devices: [] }] })),
  );
  const kubeconfig = join(hostRoot, 'bench-kubeconfig');
  api.writeKubeconfig(kubeconfig);
  const daemon = await spawnDaemon({
    hostRoot,
    flags: ['--kubernetes', 'true', '--node-name', NODE],
    env: { ...IMAGE_ENV, KUBECONFIG: kubeconfig },
    logLevel: 'warn',
  });
  try {
    // The list went out whole and a watch is open on it.
    for (let attempt = 0; api.watchCount() !== 1; attempt++) {
      if (attempt === 200) throw new Error(`bench: expected one pod watch, found ${api.watchCount()}`);
      await sleep(10);
    }
    await scrape(`${daemon.metricsUrl}/metrics`);
    await sleep(steadySeconds * 1000);
    return rssMiB(daemon.pid);
  } finally {
    await daemon.stop();
    await kubelet.stop();
    await api.close();
  }
}

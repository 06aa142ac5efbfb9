// A loopback Kubernetes API server for pods: serves the list and the watch stream (one JSON event per
// line on a held-open chunked response) that @kubernetes/client-node's informer speaks, and bumps the
// resourceVersion on every change as a real API server does (the informer ignores events without one).
import { writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export interface FakeApiServer {
  url: string;
  /** Every request URL, in order. */
  requests: URL[];
  /** The resourceVersion of the latest change (what a list returns). */
  resourceVersion(): string;
  /** Open watch streams. */
  watchCount(): number;
  /** ADDED, MODIFIED and DELETED events to every open watch, each with a new resourceVersion. */
  add(pod: V1Pod): void;
  modify(pod: V1Pod): void;
  remove(pod: V1Pod): void;
  /** A client config for this server (no TLS, no credentials). */
  kubeConfig(): KubeConfig;
  /** Writes the same as a kubeconfig file, for code that reads $KUBECONFIG. */
  writeKubeconfig(path: string): void;
  close(): Promise<void>;
}

const keyOf = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** Serves `initial` (plus later changes) at /api/v1/pods; a fieldSelector is recorded, not applied. */
export async function startFakeApiServer(initial: V1Pod[] = []): Promise<FakeApiServer> {
  const requests: URL[] = [];
  const watchers = new Set<ServerResponse>();
  const pods = new Map<string, V1Pod>();
  let version = 0;
  const stamp = (pod: V1Pod): V1Pod => ({ ...pod, metadata: { ...pod.metadata, resourceVersion: String(++version) } });
  for (const pod of initial) pods.set(keyOf(pod), stamp(pod));

  const server = createServer((request, response) => {
    const url = new URL(request.url!, 'http://127.0.0.1');
    requests.push(url);
    if (url.pathname !== '/api/v1/pods') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    if (url.searchParams.get('watch') === 'true') {
      response.flushHeaders();
      watchers.add(response);
      response.on('close', () => watchers.delete(response));
      return;
    }
    response.end(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(version) }, items: [...pods.values()] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const send = (type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: V1Pod) => {
    const object = stamp(pod);
    if (type === 'DELETED') pods.delete(keyOf(object));
    else pods.set(keyOf(object), object);
    for (const watcher of watchers) watcher.write(JSON.stringify({ type, object }) + '\n');
  };
  const cluster = { name: 'loopback', server: url, skipTLSVerify: true };
  const user = { name: 'loopback' };

  return {
    url,
    requests,
    resourceVersion: () => String(version),
    watchCount: () => watchers.size,
    add: (pod) => send('ADDED', pod),
    modify: (pod) => send('MODIFIED', pod),
    remove: (pod) => send('DELETED', pod),
    kubeConfig() {
      const config = new KubeConfig();
      config.loadFromClusterAndUser(cluster, user);
      return config;
    },
    writeKubeconfig(path) {
      writeFileSync(
        path,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: cluster.name, cluster: { server: url, 'insecure-skip-tls-verify': true } }],
          users: [{ name: user.name, user: {} }],
          contexts: [{ name: 'loopback', context: { cluster: cluster.name, user: user.name } }],
          'current-context': 'loopback',
        }),
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

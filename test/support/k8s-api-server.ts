// A loopback Kubernetes API server for pods, following the list/watch protocol of
// https://kubernetes.io/docs/reference/using-api/api-concepts/ (#efficient-detection-of-changes,
// #watch-bookmarks): a list answers a PodList with metadata.resourceVersion; `?watch=true` holds a
// chunked response open and writes one JSON event `{type, object}` per line, first replaying the
// changes after the requested resourceVersion; a version older than the kept history gets an ERROR
// event whose object is a 410 `Status` (reason Expired), then the stream ends. `fieldSelector`
// `spec.nodeName=<node>` is applied, to the list and to each watch.
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import type { ApiServer } from '../../src/attribution/kubernetes/api-client.ts';

/** A core/v1 Pod with the fields tests set (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/). */
export interface ApiPod {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec?: { nodeName?: string; hostNetwork?: boolean; containers: { name: string }[] };
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface FakeApiServer {
  url: string;
  /** Every request URL, in order, with the time it arrived (performance.now()) and its Authorization header. */
  requests: URL[];
  requestTimesMs: number[];
  authorizations: (string | undefined)[];
  /** The resourceVersion of the latest change (what a list returns). */
  resourceVersion(): string;
  /** Open watch streams. */
  watchCount(): number;
  /**
   * ADDED, MODIFIED and DELETED events, each with a new resourceVersion, to every open watch whose
   * selector matches; `deliver: false` keeps it out of the open streams, as if lost with a dropped connection.
   */
  add(pod: ApiPod, options?: { deliver: boolean }): void;
  modify(pod: ApiPod): void;
  remove(pod: ApiPod, options?: { deliver: boolean }): void;
  /** A BOOKMARK with the current resourceVersion to the watches that allowed bookmarks. */
  bookmark(): void;
  /** Forgets the history up to now (etcd compaction): open watches get ERROR 410 and end, older versions are refused. */
  expire(): void;
  /** Ends every open watch stream cleanly, as an API server restart or a load balancer does. */
  dropWatches(): void;
  /** The next `count` requests answer `code` with a Status body. */
  failNext(count: number, code: number): void;
  /** A client config for this server (no credentials). */
  apiServer(): ApiServer;
  /** Writes the same as a kubeconfig file, for code that reads $KUBECONFIG. */
  writeKubeconfig(path: string): void;
  close(): Promise<void>;
}

interface Watcher {
  response: ServerResponse;
  nodeName: string | undefined;
  bookmarks: boolean;
}

const keyOf = (pod: ApiPod) => `${pod.metadata.namespace}/${pod.metadata.name}`;

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
});

/** Serves `initial` (plus later changes) at /api/v1/pods; with `tls`, over HTTPS. */
export async function startFakeApiServer(initial: ApiPod[] = [], tls?: { key: string; cert: string }): Promise<FakeApiServer> {
  const requests: URL[] = [];
  const requestTimesMs: number[] = [];
  const authorizations: (string | undefined)[] = [];
  const watchers = new Set<Watcher>();
  const pods = new Map<string, ApiPod>();
  const history: { version: number; type: EventType; object: ApiPod }[] = [];
  let version = 0;
  let compactedVersion = 0;
  let failures: { count: number; code: number } = { count: 0, code: 0 };
  const stamp = (pod: ApiPod): ApiPod => ({ ...pod, metadata: { ...pod.metadata, resourceVersion: String(++version) } });
  for (const pod of initial) pods.set(keyOf(pod), stamp(pod));
  const selects = (nodeName: string | undefined, pod: ApiPod) => nodeName === undefined || pod.spec?.nodeName === nodeName;
  const write = (watcher: Watcher, type: string, object: unknown) => watcher.response.write(`${JSON.stringify({ type, object })}\n`);

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url!, 'http://127.0.0.1');
    requests.push(url);
    requestTimesMs.push(performance.now());
    authorizations.push(request.headers.authorization);
    if (failures.count > 0) {
      failures.count--;
      response
        .writeHead(failures.code, { 'content-type': 'application/json' })
        .end(JSON.stringify(status(failures.code, 'ServiceUnavailable', 'the server is currently unable to handle the request')));
      return;
    }
    if (url.pathname !== '/api/v1/pods') {
      response.writeHead(404).end();
      return;
    }
    const selector = url.searchParams.get('fieldSelector');
    const nodeName = selector?.startsWith('spec.nodeName=') ? selector.slice('spec.nodeName='.length) : undefined;
    response.writeHead(200, { 'content-type': 'application/json' });
    if (url.searchParams.get('watch') !== 'true') {
      const items = [...pods.values()].filter((pod) => selects(nodeName, pod));
      response.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(version) }, items }));
      return;
    }
    const watcher: Watcher = { response, nodeName, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    const from = Number(url.searchParams.get('resourceVersion'));
    if (from < compactedVersion) {
      write(watcher, 'ERROR', status(410, 'Expired', `too old resource version: ${from} (${compactedVersion})`));
      response.end();
      return;
    }
    for (const event of history) if (event.version > from && selects(nodeName, event.object)) write(watcher, event.type, event.object);
    response.flushHeaders();
    watchers.add(watcher);
    response.on('close', () => watchers.delete(watcher));
  };
  const server = tls ? createHttpsServer(tls, handle) : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const send = (type: EventType, pod: ApiPod, deliver = true) => {
    const object = stamp(pod);
    if (type === 'DELETED') pods.delete(keyOf(object));
    else pods.set(keyOf(object), object);
    history.push({ version, type, object });
    if (deliver) for (const watcher of watchers) if (selects(watcher.nodeName, object)) write(watcher, type, object);
  };
  const endWatches = () => {
    for (const watcher of watchers) watcher.response.end();
    watchers.clear();
  };

  return {
    url,
    requests,
    requestTimesMs,
    authorizations,
    resourceVersion: () => String(version),
    watchCount: () => watchers.size,
    add: (pod, options) => send('ADDED', pod, options?.deliver),
    modify: (pod) => send('MODIFIED', pod),
    remove: (pod, options) => send('DELETED', pod, options?.deliver),
    bookmark() {
      for (const watcher of watchers)
        if (watcher.bookmarks) write(watcher, 'BOOKMARK', { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(version) } });
    },
    expire() {
      history.length = 0;
      compactedVersion = version;
      for (const watcher of watchers) write(watcher, 'ERROR', status(410, 'Expired', `too old resource version`));
      endWatches();
    },
    dropWatches: endWatches,
    failNext(count, code) {
      failures = { count, code };
    },
    apiServer: () => ({ server: url, skipTlsVerify: false, token: () => undefined }),
    writeKubeconfig(path) {
      writeFileSync(
        path,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'loopback', cluster: { server: url } }],
          users: [{ name: 'loopback', user: {} }],
          contexts: [{ name: 'loopback', context: { cluster: 'loopback', user: 'loopback' } }],
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

// Pod metadata from a loopback API server speaking the Kubernetes list/watch protocol.
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_WORKLOAD_KEYS, PodMetadataWatcher, podInfoOf } from '../../../src/attribution/kubernetes/pod-metadata.ts';
import { eventually, sleep } from '../../support/eventually.ts';
import { startFakeApiServer, type ApiPod } from '../../support/k8s-api-server.ts';

function pod(
  name: string,
  uid: string,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string>; owner?: [string, string] } = {},
): ApiPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'ml',
      uid,
      labels: extra.labels ?? {},
      annotations: extra.annotations ?? {},
      ...(extra.owner ? { ownerReferences: [{ apiVersion: 'v1', kind: extra.owner[0], name: extra.owner[1], uid: 'owner', controller: true }] } : {}),
    },
    spec: { nodeName: 'gpu-node-1', containers: [{ name: 'main' }] },
  };
}

describe('podInfoOf', () => {
  it.each([
    [
      'labels name model, job and phase',
      pod('p', 'u', { labels: { 'footprint.dev/model': 'llama-3-8b', 'footprint.dev/job': 'chat', 'footprint.dev/phase': 'inference' } }),
      { model: 'llama-3-8b', job: 'chat', phase: 'inference' },
      undefined,
    ],
    [
      'annotations when labels are absent',
      pod('p', 'u', { annotations: { 'footprint.dev/model': 'bert', 'footprint.dev/phase': 'training' }, owner: ['Job', 'finetune'] }),
      { model: 'bert', job: 'finetune', phase: 'training' },
      { kind: 'Job', name: 'finetune' },
    ],
    [
      'a Deployment through its ReplicaSet',
      pod('api-7d9f8b6c5-x2x9q', 'u', { labels: { 'pod-template-hash': '7d9f8b6c5' }, owner: ['ReplicaSet', 'api-7d9f8b6c5'] }),
      { job: 'api' },
      { kind: 'Deployment', name: 'api' },
    ],
    ['a bare ReplicaSet', pod('rs-abcde', 'u', { owner: ['ReplicaSet', 'rs'] }), { job: 'rs' }, { kind: 'ReplicaSet', name: 'rs' }],
    [
      'a JobSet through its generated Job',
      pod('pretrain-workers-0-0-abcde', 'u', { labels: { 'jobset.sigs.k8s.io/jobset-name': 'pretrain' }, owner: ['Job', 'pretrain-workers-0'] }),
      { job: 'pretrain' },
      { kind: 'JobSet', name: 'pretrain' },
    ],
    [
      'a CronJob through its run Job',
      pod('nightly-eval-29120160-abcde', 'u', { owner: ['Job', 'nightly-eval-29120160'] }),
      { job: 'nightly-eval' },
      { kind: 'CronJob', name: 'nightly-eval' },
    ],
    ['a StatefulSet', pod('vllm-0', 'u', { owner: ['StatefulSet', 'vllm'] }), { job: 'vllm' }, { kind: 'StatefulSet', name: 'vllm' }],
    ['a bare pod is its own job', pod('scratch', 'u'), { job: 'scratch' }, undefined],
  ])('%s', (_name, input, workload, owner) => {
    const info = podInfoOf(input, DEFAULT_WORKLOAD_KEYS);
    expect(info.workload).toEqual({ namespace: 'ml', pod: input.metadata!.name, ...workload });
    expect(info.owner).toEqual(owner);
  });

  it('uses configured keys', () => {
    const info = podInfoOf(pod('p', 'u', { labels: { 'app.kubernetes.io/name': 'whisper' } }), { ...DEFAULT_WORKLOAD_KEYS, model: 'app.kubernetes.io/name' });
    expect(info.workload.model).toBe('whisper');
  });
});

describe('PodMetadataWatcher', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('lists and watches the pods of its node only', async () => {
    const server = await startFakeApiServer([pod('vllm-0', 'uid-1', { labels: { 'footprint.dev/model': 'llama' }, owner: ['StatefulSet', 'vllm'] })]);
    closers.push(() => server.close());
    const errors: unknown[] = [];
    const watcher = new PodMetadataWatcher({ api: server.apiServer(), nodeName: 'gpu-node-1', onError: (error) => errors.push(error) });
    closers.push(() => watcher.close());
    await watcher.start();

    expect(watcher.byUid('uid-1')?.workload).toEqual({ namespace: 'ml', pod: 'vllm-0', model: 'llama', job: 'vllm' });
    expect(server.requests[0]!.searchParams.get('fieldSelector')).toBe('spec.nodeName=gpu-node-1');
    await eventually(() => {
      expect(server.watchCount()).toBe(1);
      return true;
    });
    const watchUrl = server.requests.find((url) => url.searchParams.get('watch') === 'true')!;
    expect(watchUrl.searchParams.get('fieldSelector')).toBe('spec.nodeName=gpu-node-1');
    // The watch resumes from the list's resourceVersion, so no change between the two is missed.
    expect(watchUrl.searchParams.get('resourceVersion')).toBe(server.resourceVersion());

    server.add(pod('trainer-0', 'uid-2', { annotations: { 'footprint.dev/phase': 'training' }, owner: ['Job', 'finetune'] }));
    await eventually(() => {
      expect(watcher.byName('ml', 'trainer-0')?.workload).toEqual({ namespace: 'ml', pod: 'trainer-0', job: 'finetune', phase: 'training' });
      return true;
    });

    server.modify(pod('vllm-0', 'uid-1', { labels: { 'footprint.dev/model': 'llama-3.1' }, owner: ['StatefulSet', 'vllm'] }));
    await eventually(() => {
      expect(watcher.byUid('uid-1')?.workload.model).toBe('llama-3.1');
      return true;
    });

    server.remove(pod('trainer-0', 'uid-2'));
    await eventually(() => {
      expect(watcher.byUid('uid-2')).toBeUndefined();
      return true;
    });
    expect(watcher.byName('ml', 'trainer-0')).toBeUndefined();
    // Stopping aborts the watch; that is not an error to report.
    await watcher.close();
    expect(errors).toEqual([]);
  });

  it('finds pods by IP, leaves hostNetwork pods out, and keeps an IP a new pod took when the old one goes', async () => {
    const withIp = (name: string, uid: string, podIP: string, hostNetwork = false): ApiPod => ({
      ...pod(name, uid),
      spec: { nodeName: 'gpu-node-1', containers: [], hostNetwork },
      status: { podIP, podIPs: [{ ip: podIP }, { ip: 'fd00::7' }] },
    });
    const server = await startFakeApiServer([withIp('vllm-0', 'uid-1', '10.244.1.7'), withIp('exporter', 'uid-2', '192.168.0.10', true)]);
    closers.push(() => server.close());
    const watcher = new PodMetadataWatcher({ api: server.apiServer(), nodeName: 'gpu-node-1' });
    closers.push(() => watcher.close());
    await watcher.start();
    expect([watcher.byIp('10.244.1.7')?.uid, watcher.byIp('fd00::7')?.uid, watcher.byIp('192.168.0.10')]).toEqual(['uid-1', 'uid-1', undefined]);

    // The IP is reused by a new pod before the old pod's deletion arrives.
    server.add(withIp('vllm-1', 'uid-3', '10.244.1.7'));
    await eventually(() => {
      expect(watcher.byIp('10.244.1.7')?.uid).toBe('uid-3');
      return true;
    });
    server.remove(withIp('vllm-0', 'uid-1', '10.244.1.7'));
    await eventually(() => {
      expect(watcher.byUid('uid-1')).toBeUndefined();
      return true;
    });
    expect(watcher.byIp('10.244.1.7')?.uid).toBe('uid-3');
    await watcher.close();
  });
});

describe('PodMetadataWatcher through watch failures', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });
  const watchRequests = (server: Awaited<ReturnType<typeof startFakeApiServer>>) => server.requests.filter((url) => url.searchParams.get('watch') === 'true');
  const listRequests = (server: Awaited<ReturnType<typeof startFakeApiServer>>) => server.requests.filter((url) => url.searchParams.get('watch') === null);

  it('lists again on 410 Gone and drops the pods the new list no longer has', async () => {
    const server = await startFakeApiServer([pod('vllm-0', 'uid-1'), pod('trainer-0', 'uid-2')]);
    closers.push(() => server.close());
    const errors: unknown[] = [];
    const watcher = new PodMetadataWatcher({ api: server.apiServer(), nodeName: 'gpu-node-1', retryMs: 20, onError: (error) => errors.push(error) });
    closers.push(() => watcher.close());
    await watcher.start();
    await eventually(() => {
      expect(server.watchCount()).toBe(1);
      return true;
    });

    // Both changes are lost with the connection; the history they were in is compacted away.
    server.remove(pod('trainer-0', 'uid-2'), { deliver: false });
    server.add(pod('eval-0', 'uid-3', { owner: ['Job', 'eval'] }), { deliver: false });
    server.expire();

    await eventually(() => {
      expect(watcher.byUid('uid-3')?.workload).toEqual({ namespace: 'ml', pod: 'eval-0', job: 'eval' });
      return true;
    });
    expect(watcher.byUid('uid-2')).toBeUndefined();
    expect(watcher.byName('ml', 'trainer-0')).toBeUndefined();
    expect(watcher.byUid('uid-1')?.name).toBe('vllm-0');
    expect(listRequests(server)).toHaveLength(2);
    // The second watch starts from the second list's version; 410 is the protocol's "list again", not an error.
    await eventually(() => {
      expect(watchRequests(server).at(-1)!.searchParams.get('resourceVersion')).toBe(server.resourceVersion());
      return true;
    });
    expect(errors).toEqual([]);
  });

  it('resumes a dropped watch from the last version seen, bookmarks included, without listing again', async () => {
    const server = await startFakeApiServer([pod('vllm-0', 'uid-1')]);
    closers.push(() => server.close());
    const watcher = new PodMetadataWatcher({ api: server.apiServer(), nodeName: 'gpu-node-1', retryMs: 20 });
    closers.push(() => watcher.close());
    await watcher.start();
    await eventually(() => {
      expect(server.watchCount()).toBe(1);
      return true;
    });
    expect(watchRequests(server)[0]!.searchParams.get('allowWatchBookmarks')).toBe('true');

    // A pod on another node moves the version without an event to this watch; the bookmark carries it.
    server.add({ ...pod('other', 'uid-9'), spec: { nodeName: 'gpu-node-2', containers: [{ name: 'main' }] } });
    server.bookmark();
    const bookmarked = server.resourceVersion();
    await sleep(50);
    server.dropWatches();
    await eventually(() => {
      expect(watchRequests(server)).toHaveLength(2);
      return true;
    });
    expect(watchRequests(server)[1]!.searchParams.get('resourceVersion')).toBe(bookmarked);

    // A change made while the stream was down is replayed from the server's history.
    server.dropWatches();
    server.add(pod('trainer-0', 'uid-2'));
    await eventually(() => {
      expect(watcher.byUid('uid-2')?.name).toBe('trainer-0');
      return true;
    });
    expect(watcher.byUid('uid-9')).toBeUndefined();
    expect(listRequests(server)).toHaveLength(1);
  });

  it('backs off, doubling the wait, while the API server fails, and names the status code', async () => {
    const server = await startFakeApiServer([pod('vllm-0', 'uid-1')]);
    closers.push(() => server.close());
    server.failNext(3, 503);
    const errors: Error[] = [];
    const watcher = new PodMetadataWatcher({ api: server.apiServer(), nodeName: 'gpu-node-1', retryMs: 40, onError: (error) => errors.push(error as Error) });
    closers.push(() => watcher.close());
    await watcher.start();
    expect(watcher.byUid('uid-1')).toBeUndefined();
    await eventually(() => {
      expect(watcher.byUid('uid-1')?.name).toBe('vllm-0');
      return true;
    });

    expect(errors.map((error) => error.message)).toEqual(
      Array(3).fill('kubernetes API /api/v1/pods: HTTP 503: the server is currently unable to handle the request'),
    );
    const gapsMs = server.requestTimesMs.slice(1, 4).map((atMs, index) => atMs - server.requestTimesMs[index]!);
    expect(gapsMs.map((gapMs, index) => gapMs >= 40 * 2 ** index)).toEqual([true, true, true]);
    expect(listRequests(server)).toHaveLength(4);
  });
});

// The pod an export came from: what its spans may name (its own uid, namespace, name; its own or
// unallocated devices) and how a window of it is confined to it.
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORKLOAD_KEYS, podInfoOf } from '../../../src/attribution/kubernetes/pod-metadata.ts';
import { confineToSender, senderPodOf } from '../../../src/attribution/kubernetes/sender-pod.ts';
import type { AttributeLookup } from '../../../src/attribution/workload-attributes.ts';

const UID = '11111111-aaaa-4aaa-8aaa-111111111111';
const CONFIG_HASH = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const info = podInfoOf(
  { metadata: { namespace: 'team-a', name: 'attacker', uid: UID, annotations: { 'kubernetes.io/config.mirror': CONFIG_HASH } }, status: { podIP: '10.0.0.2' } },
  DEFAULT_WORKLOAD_KEYS,
);
/** GPU-A is this pod's, GPU-B another pod's; every other device is no pod's. */
const allocations: Record<string, string> = { 'GPU-A': 'team-a/attacker', 'GPU-B': 'team-b/victim' };
const pod = senderPodOf(info, (deviceId, namespace, name) => allocations[deviceId] !== undefined && allocations[deviceId] !== `${namespace}/${name}`);
const attributes =
  (values: Record<string, unknown>): AttributeLookup =>
  (key) =>
    values[key];

describe('senderPodOf', () => {
  it('takes its own uid (or its static pod config hash), namespace and name as no claim', () => {
    expect(pod.claimsAnotherPod([attributes({})])).toBe(false);
    expect(pod.claimsAnotherPod([attributes({ 'k8s.pod.uid': UID, 'k8s.namespace.name': 'team-a', 'k8s.pod.name': 'attacker' })])).toBe(false);
    expect(pod.claimsAnotherPod([attributes({ 'k8s.pod.uid': CONFIG_HASH })])).toBe(false);
    // Normalised as label values are: surrounding whitespace does not make another pod.
    expect(pod.claimsAnotherPod([attributes({ 'k8s.pod.name': ' attacker ' })])).toBe(false);
  });

  it('finds a claim of another pod in any source, by uid, namespace or name alone', () => {
    expect(pod.claimsAnotherPod([attributes({}), attributes({ 'k8s.pod.uid': '22222222-bbbb-4bbb-8bbb-222222222222' })])).toBe(true);
    expect(pod.claimsAnotherPod([attributes({ 'k8s.namespace.name': 'team-b' })])).toBe(true);
    expect(pod.claimsAnotherPod([attributes({ 'k8s.pod.name': 'victim' }), attributes({})])).toBe(true);
  });

  it("names a foreign device only for another pod's GPU", () => {
    expect(pod.namesForeignDevice(undefined)).toBe(false);
    expect(pod.namesForeignDevice([])).toBe(false);
    expect(pod.namesForeignDevice(['GPU-A', 'rapl:package-0', 'GPU-unallocated'])).toBe(false);
    expect(pod.namesForeignDevice(['GPU-A', 'GPU-B'])).toBe(true);
  });
});

describe('confineToSender', () => {
  const window = { source: 'window' as const, workload: { job: 'train' }, startMs: 0, endMs: 1000, senderKey: '10.0.0.2' };

  it("puts an activity under the pod and drops device ids naming another pod's GPU", () => {
    expect(confineToSender({ ...window, workload: { job: 'train', namespace: 'team-b', pod: 'victim' }, deviceIds: ['GPU-B'] }, pod)).toEqual({
      ...window,
      workload: { job: 'train', namespace: 'team-a', pod: 'attacker' },
    });
    expect(confineToSender({ ...window, deviceIds: ['GPU-A'] }, pod)).toEqual({
      ...window,
      workload: { job: 'train', namespace: 'team-a', pod: 'attacker' },
      deviceIds: ['GPU-A'],
    });
  });

  it('returns an activity already under the pod as it is', () => {
    const own = { ...window, workload: { job: 'train', namespace: 'team-a', pod: 'attacker' }, deviceIds: ['GPU-A'] };
    expect(confineToSender(own, pod)).toBe(own);
  });
});

// Where the daemon finds the API server: the in-cluster service account (HTTPS with the mounted CA, the
// rotated token read again) and kubeconfig files, against the loopback API server.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadApiServer } from '../../../src/attribution/kubernetes/api-client.ts';
import { PodMetadataWatcher } from '../../../src/attribution/kubernetes/pod-metadata.ts';
import { startFakeApiServer, type ApiPod } from '../../support/k8s-api-server.ts';
import { sleep } from '../../support/eventually.ts';

const dir = mkdtempSync(join(tmpdir(), 'footprint-api-client-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const vllm: ApiPod = { metadata: { namespace: 'serving', name: 'vllm-0', uid: 'uid-1' }, spec: { nodeName: 'gpu-node-1', containers: [{ name: 'vllm' }] } };

async function eventually(check: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

describe('in-cluster config', () => {
  it('trusts the service account CA and sends the token it reads again after rotation', async () => {
    // The API server's serving certificate for 127.0.0.1, self-signed: the mounted ca.crt is that certificate.
    const serviceAccount = join(dir, 'serviceaccount');
    mkdirSync(serviceAccount);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=kubernetes',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'apiserver.key'),
        '-out',
        join(serviceAccount, 'ca.crt'),
      ],
      { stdio: 'ignore' },
    );
    writeFileSync(join(serviceAccount, 'token'), 'token-one\n');
    const server = await startFakeApiServer([vllm], {
      key: readFileSync(join(dir, 'apiserver.key'), 'utf8'),
      cert: readFileSync(join(serviceAccount, 'ca.crt'), 'utf8'),
    });
    const port = new URL(server.url).port;
    const api = loadApiServer({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, serviceAccount);
    expect(api.server).toBe(`https://127.0.0.1:${port}`);

    const watcher = new PodMetadataWatcher({ api, nodeName: 'gpu-node-1', retryMs: 20 });
    try {
      await watcher.start();
      expect(watcher.byUid('uid-1')?.name).toBe('vllm-0');
      await eventually(() => {
        expect(server.watchCount()).toBe(1);
        return true;
      });
      // The kubelet rewrites the projected token in place; the next request carries the new one.
      writeFileSync(join(serviceAccount, 'token'), 'token-two\n');
      server.dropWatches();
      await eventually(() => {
        expect(server.authorizations).toHaveLength(3);
        return true;
      });
      expect(server.authorizations).toEqual(['Bearer token-one', 'Bearer token-one', 'Bearer token-two']);
    } finally {
      await watcher.close();
      await server.close();
    }
  });

  it('puts an IPv6 service host in brackets and names a missing port', () => {
    const serviceAccount = join(dir, 'serviceaccount');
    expect(loadApiServer({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccount).server).toBe('https://[fd00::1]:443');
    expect(() => loadApiServer({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, serviceAccount)).toThrow(
      'kubernetes: KUBERNETES_SERVICE_PORT is not set although KUBERNETES_SERVICE_HOST is',
    );
  });
});

describe('kubeconfig', () => {
  const write = (name: string, doc: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, stringify(doc));
    return path;
  };
  const config = (user: Record<string, unknown>) => ({
    clusters: [{ name: 'c', cluster: { server: 'https://api.example:6443/', 'certificate-authority': 'ca.pem' } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });

  it('reads the current context: server, CA file relative to the kubeconfig, token file', () => {
    writeFileSync(join(dir, 'ca.pem'), 'CA PEM');
    writeFileSync(join(dir, 'user-token'), 'from-file\n');
    const api = loadApiServer({ KUBECONFIG: `${write('kubeconfig', config({ tokenFile: 'user-token' }))}:/nonexistent` });
    expect([api.server, String(api.ca), api.skipTlsVerify, api.token()]).toEqual(['https://api.example:6443', 'CA PEM', false, 'from-file']);
    expect(
      loadApiServer({
        KUBECONFIG: write('inline', config({ token: 'inline', 'client-certificate-data': Buffer.from('CERT').toString('base64') })),
      }).cert?.toString(),
    ).toBe('CERT');
  });

  it('names the key it cannot use', () => {
    expect(() => loadApiServer({ KUBECONFIG: write('exec', config({ exec: { command: 'aws' } })) })).toThrow(
      `kubeconfig ${join(dir, 'exec')}: users.u.exec: not supported; use a token, tokenFile or a client certificate`,
    );
    expect(() => loadApiServer({ KUBECONFIG: write('nocontext', { ...config({}), 'current-context': 'y' }) })).toThrow(
      `kubeconfig ${join(dir, 'nocontext')}: contexts: no entry named "y"`,
    );
    expect(() => loadApiServer({ HOME: dir })).toThrow(
      'kubernetes: no API server configured: not in a cluster (KUBERNETES_SERVICE_HOST unset) and no $KUBECONFIG or ~/.kube/config',
    );
  });
});

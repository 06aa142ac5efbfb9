// The client against a TLS server signed by a private CA: what real Prometheus deployments look like.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusClient, PrometheusError } from '../../src/report/prometheus-client.ts';

const run = promisify(execFile);
const DIR = resolve('test/.tmp/report/tls');

describe('PrometheusClient over TLS with auth', () => {
  let server: Server;
  let baseUrl: string;
  let caPem: string;
  const seen: Array<{ url: string; headers: IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    await mkdir(DIR, { recursive: true });
    // Self-signed cert for 127.0.0.1: it is its own CA, so trusting it via caPem is the --ca-file path.
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(DIR, 'key.pem'),
      '-out',
      join(DIR, 'cert.pem'),
    ]);
    caPem = await readFile(join(DIR, 'cert.pem'), 'utf8');
    server = createServer({ key: await readFile(join(DIR, 'key.pem')), cert: caPem }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        if (req.headers.authorization === undefined) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"status":"error","errorType":"unauthorized","error":"auth required"}');
          return;
        }
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"status":"success","data":{"resultType":"vector","result":[{"metric":{"hw_type":"gpu"},"value":[1700000000,"42.5"]}]}}');
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address();
    baseUrl = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/prom`;
  });

  afterAll(async () => {
    await new Promise((done) => server?.close(done));
  });

  it('trusts the given CA, sends the bearer token and keeps the path prefix', async () => {
    const client = new PrometheusClient({ baseUrl, caPem, bearerToken: 'sekret' });
    expect(await client.query('sum(up)', 1_700_000_000)).toEqual([{ metric: { hw_type: 'gpu' }, points: [[1_700_000_000, 42.5]] }]);
    const request = seen.at(-1)!;
    expect(request.url).toBe('/prom/api/v1/query');
    expect(request.headers.authorization).toBe('Bearer sekret');
    expect(new URLSearchParams(request.body).get('query')).toBe('sum(up)');
  });

  it('sends basic auth', async () => {
    const client = new PrometheusClient({ baseUrl, caPem, basicAuth: { username: 'sre', password: 'p:w' } });
    await client.queryRange('up', 1, 2, 1);
    expect(seen.at(-1)!.headers.authorization).toBe(`Basic ${Buffer.from('sre:p:w').toString('base64')}`);
  });

  it('refuses an unknown CA unless told to skip verification', async () => {
    await expect(new PrometheusClient({ baseUrl, bearerToken: 't' }).query('up', 1)).rejects.toThrow(
      /^cannot reach Prometheus at https:\/\/127\.0\.0\.1:\d+\/prom\/: self.signed certificate/,
    );
    await expect(new PrometheusClient({ baseUrl, bearerToken: 't', insecureSkipVerify: true }).query('up', 1)).resolves.toHaveLength(1);
  });

  it('turns an API error into a message with the status, the reason and an auth hint', async () => {
    const error = await new PrometheusClient({ baseUrl, caPem }).query('up', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusError);
    expect((error as Error).message).toMatch(/answered HTTP 401: unauthorized: auth required \(check --bearer-token-file \/ --basic-auth\); query: up$/);
  });
});

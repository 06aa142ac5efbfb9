// How the daemon reaches the Kubernetes API server: where it is, which CA to trust and which token to
// send, from $KUBECONFIG (or ~/.kube/config) and else the in-cluster service account, in the order
// kubectl and client-go use. Requests go through node:https rather than fetch: Node 20's fetch cannot
// trust a CA bundle without importing the undici package, and node:https costs no extra memory.
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** Where the kubelet mounts a pod's service account (token, ca.crt); the token is rotated in place. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ApiServer {
  /** The API server's base URL, e.g. https://10.96.0.1:443. */
  server: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** kubeconfig's insecure-skip-tls-verify. */
  skipTlsVerify: boolean;
  /** The bearer token, read again for every request: projected service-account tokens rotate (about hourly). */
  token(): string | undefined;
}

/** A non-2xx answer, with the Kubernetes `Status` message when the body carries one. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const readText = (path: string) => readFileSync(path, 'utf8').trim();

function inCluster(env: NodeJS.ProcessEnv, serviceAccountDir: string): ApiServer {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!port) throw new Error('kubernetes: KUBERNETES_SERVICE_PORT is not set although KUBERNETES_SERVICE_HOST is');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(`${serviceAccountDir}/ca.crt`),
    skipTlsVerify: false,
    token: () => readText(`${serviceAccountDir}/token`),
  };
}

/** An entry of kubeconfig's clusters, users or contexts lists: `name` plus one section. */
type NamedEntry = Record<string, unknown>;

function fromKubeconfig(path: string): ApiServer {
  const doc = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
  const fail = (key: string, why: string) => new Error(`kubeconfig ${path}: ${key}: ${why}`);
  const find = (list: string, name: unknown, field: string) => {
    const entry = ((doc[list] ?? []) as NamedEntry[]).find((item) => item.name === name);
    if (!entry) throw fail(list, `no entry named ${JSON.stringify(name)}`);
    return (entry[field] ?? {}) as Record<string, unknown>;
  };
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') throw fail('current-context', 'not set');
  const context = find('contexts', contextName, 'context');
  const cluster = find('clusters', context.cluster, 'cluster');
  const user = context.user === undefined ? {} : find('users', context.user, 'user');
  for (const unsupported of ['exec', 'auth-provider', 'username']) {
    if (user[unsupported] !== undefined)
      throw fail(`users.${String(context.user)}.${unsupported}`, 'not supported; use a token, tokenFile or a client certificate');
  }
  if (typeof cluster.server !== 'string') throw fail(`clusters.${String(context.cluster)}.server`, 'missing');
  const base = dirname(path);
  // Each credential is given inline (`-data`, base64) or as a file relative to the kubeconfig.
  const material = (section: Record<string, unknown>, key: string): Buffer | undefined => {
    const inline = section[`${key}-data`];
    if (typeof inline === 'string') return Buffer.from(inline, 'base64');
    const file = section[key];
    return typeof file === 'string' ? readFileSync(resolve(base, file)) : undefined;
  };
  const token = user.token;
  const tokenFile = user.tokenFile;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: material(cluster, 'certificate-authority'),
    cert: material(user, 'client-certificate'),
    key: material(user, 'client-key'),
    skipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: () => (typeof token === 'string' ? token : typeof tokenFile === 'string' ? readText(resolve(base, tokenFile)) : undefined),
  };
}

/** $KUBECONFIG (its first file), else ~/.kube/config, else the in-cluster service account. */
export function loadApiServer(env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): ApiServer {
  const kubeconfig = env.KUBECONFIG?.split(':').find((path) => path !== '');
  if (kubeconfig) return fromKubeconfig(kubeconfig);
  const home = `${env.HOME ?? homedir()}/.kube/config`;
  if (existsSync(home)) return fromKubeconfig(home);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env, serviceAccountDir);
  throw new Error('kubernetes: no API server configured: not in a cluster (KUBERNETES_SERVICE_HOST unset) and no $KUBECONFIG or ~/.kube/config');
}

/** Reads a whole body as text, refusing more than `maxBytes` while reading. */
export async function readBody(response: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > maxBytes) {
      response.destroy();
      throw new Error(`kubernetes: response larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Bytes of an error body worth reading: a Status object is a few hundred. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * GET `pathAndQuery` (JSON), resolving with the response once its status is 200; any other status
 * rejects with an ApiError naming the code and the Status message (403: RBAC, 410: expired version).
 */
export async function get(api: ApiServer, pathAndQuery: string, signal: AbortSignal): Promise<IncomingMessage> {
  const url = new URL(api.server + pathAndQuery);
  const token = api.token();
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const response = await new Promise<IncomingMessage>((resolvePromise, reject) => {
    const outgoing = send(url, {
      signal,
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(url.protocol === 'https:' ? { ca: api.ca, cert: api.cert, key: api.key, rejectUnauthorized: !api.skipTlsVerify } : {}),
    });
    outgoing.once('response', resolvePromise);
    outgoing.once('error', reject);
    outgoing.end();
  });
  if (response.statusCode === 200) return response;
  const body = await readBody(response, MAX_ERROR_BODY_BYTES).catch(() => '');
  let message = body.slice(0, 200);
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? message;
  } catch {
    // not a Status object: keep the raw start of the body
  }
  throw new ApiError(response.statusCode ?? 0, `kubernetes API ${url.pathname}: HTTP ${response.statusCode}: ${message}`);
}

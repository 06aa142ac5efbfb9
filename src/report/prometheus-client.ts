// Minimal Prometheus HTTP API client on node:http(s): Node 20's global fetch cannot take a custom
// CA, and real deployments sit behind TLS with private CAs, basic auth or bearer tokens.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export class PrometheusError extends Error {}

export interface PrometheusClientOptions {
  baseUrl: string;
  bearerToken?: string;
  basicAuth?: { username: string; password: string };
  /** PEM text of the CA that signed the server's certificate. */
  caPem?: string;
  insecureSkipVerify?: boolean;
  timeoutMs?: number;
}

export interface PromSample {
  metric: Record<string, string>;
  /** [unix seconds, value] pairs; one pair for instant queries. */
  points: Array<[number, number]>;
}

/** One series' exemplars, as /api/v1/query_exemplars answers them (needs Prometheus's `exemplar-storage` feature). */
export interface ExemplarSeries {
  seriesLabels: Record<string, string>;
  exemplars: Array<{ labels: Record<string, string>; value: string; timestamp: number }>;
}

interface QueryData {
  resultType: string;
  result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }>;
}

interface ApiResponse<Data> {
  status: 'success' | 'error';
  data?: Data;
  errorType?: string;
  error?: string;
}

export class PrometheusClient {
  readonly #options: PrometheusClientOptions;
  readonly #base: URL;

  constructor(options: PrometheusClientOptions) {
    this.#options = options;
    try {
      this.#base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    } catch {
      throw new PrometheusError(`--prometheus: "${options.baseUrl}" is not a URL; expected e.g. http://prometheus:9090`);
    }
    if (this.#base.protocol !== 'http:' && this.#base.protocol !== 'https:') {
      throw new PrometheusError(`--prometheus: "${options.baseUrl}" must be an http:// or https:// URL`);
    }
  }

  /** Instant query evaluated at `timeSeconds`. */
  async query(expr: string, timeSeconds: number): Promise<PromSample[]> {
    return this.#call('api/v1/query', { query: expr, time: String(timeSeconds) });
  }

  async queryRange(expr: string, startSeconds: number, endSeconds: number, stepSeconds: number): Promise<PromSample[]> {
    return this.#call('api/v1/query_range', { query: expr, start: String(startSeconds), end: String(endSeconds), step: String(stepSeconds) });
  }

  /** The exemplars stored for the series `expr` selects between two times. */
  async queryExemplars(expr: string, startSeconds: number, endSeconds: number): Promise<ExemplarSeries[]> {
    return this.#api<ExemplarSeries[]>('api/v1/query_exemplars', { query: expr, start: String(startSeconds), end: String(endSeconds) });
  }

  async #call(path: string, params: Record<string, string>): Promise<PromSample[]> {
    const data = await this.#api<QueryData>(path, params);
    return data.result.map((row) => ({
      metric: row.metric,
      points: (row.values ?? (row.value ? [row.value] : [])).map(([t, v]) => [t, Number.parseFloat(v)] as [number, number]),
    }));
  }

  async #api<Data>(path: string, params: Record<string, string>): Promise<Data> {
    const url = new URL(path, this.#base);
    // POST with a form body: the API accepts it, and long PromQL never hits URL length limits.
    const body = new URLSearchParams(params).toString();
    const response = await this.#post(url, body);
    let parsed: ApiResponse<Data>;
    try {
      parsed = JSON.parse(response.text) as ApiResponse<Data>;
    } catch {
      throw new PrometheusError(`${url.href} answered HTTP ${response.statusCode} with a non-JSON body: ${response.text.slice(0, 200)}`);
    }
    if (parsed.status !== 'success' || !parsed.data) {
      const hint = response.statusCode === 401 || response.statusCode === 403 ? ' (check --bearer-token-file / --basic-auth)' : '';
      throw new PrometheusError(
        `${url.href} answered HTTP ${response.statusCode}: ${parsed.errorType ?? 'error'}: ${parsed.error ?? 'no detail'}${hint}; query: ${params.query}`,
      );
    }
    return parsed.data;
  }

  #post(url: URL, body: string): Promise<{ statusCode: number; text: string }> {
    const { bearerToken, basicAuth, caPem, insecureSkipVerify, timeoutMs = 60_000 } = this.#options;
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(body)),
      accept: 'application/json',
    };
    if (bearerToken) headers.authorization = `Bearer ${bearerToken}`;
    else if (basicAuth) headers.authorization = `Basic ${Buffer.from(`${basicAuth.username}:${basicAuth.password}`).toString('base64')}`;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const tlsOptions = url.protocol === 'https:' ? { ca: caPem, rejectUnauthorized: !insecureSkipVerify } : {};
    return new Promise((resolve, reject) => {
      const req = send(url, { method: 'POST', headers, timeout: timeoutMs, ...tlsOptions }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (error: NodeJS.ErrnoException) => {
        reject(
          new PrometheusError(
            `cannot reach Prometheus at ${this.#base.href}: ${error.message}${error.code && !error.message.includes(error.code) ? ` (${error.code})` : ''}`,
          ),
        );
      });
      req.end(body);
    });
  }
}

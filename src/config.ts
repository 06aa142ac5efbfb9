// One schema for every setting. Sources merge as defaults < YAML file < FOOTPRINT_* env < flags;
// any bad value becomes a ConfigError naming the key, the value and what is accepted.
import { readFileSync, statSync } from 'node:fs';
import * as z from 'zod';

export class ConfigError extends Error {}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `2s`, `1.5m`, `1h`, `7d` (or a bare number of milliseconds) into milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 'ms']!;
}

function duration(minMs: number, maxMs: number) {
  const message = `expected a duration like 500ms, 2s, 5m between ${minMs}ms and ${maxMs}ms`;
  // z.custom rather than z.number(): zod's number refuses Infinity (YAML 1e999) with a bare "Invalid input".
  return z
    .custom<string | number>((raw) => typeof raw === 'string' || typeof raw === 'number', message)
    .transform((raw, ctx) => {
      const ms = typeof raw === 'number' ? raw : parseDurationMs(raw);
      if (ms === undefined || !Number.isFinite(ms) || ms < minMs || ms > maxMs) {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      return ms;
    });
}

const SIZE_UNITS_BYTES: Record<string, number> = { '': 1, B: 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/**
 * Parses `256Mi`, `256MiB`, `1.5Gi` (or a bare number of bytes, as the Kubernetes downward API
 * writes a memory limit) into bytes. Only binary units: `256M` means 10^6 bytes to Kubernetes and
 * 2^20 to Docker, so it is refused rather than guessed.
 */
export function parseSizeBytes(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:(Ki|Mi|Gi|Ti)B?|B)?\s*$/.exec(text);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * SIZE_UNITS_BYTES[match[2] ?? '']!);
}

function size(minBytes: number, maxBytes: number) {
  const message = `expected a size like 256Mi, 256MiB, 1Gi or a number of bytes, between ${minBytes / 2 ** 20} MiB and ${maxBytes / 2 ** 30} GiB`;
  return z
    .custom<string | number>((raw) => typeof raw === 'string' || typeof raw === 'number', message)
    .transform((raw, ctx) => {
      const bytes = typeof raw === 'number' ? raw : parseSizeBytes(raw);
      if (bytes === undefined || !Number.isFinite(bytes) || bytes < minBytes || bytes > maxBytes) {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      return bytes;
    });
}

// Port 0 asks the kernel for a free port (tests use it); anything above 65535 is refused here.
const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[\w.-]*):\d{1,5}$/, 'expected HOST:PORT, e.g. 0.0.0.0:9464')
  .refine((address) => Number(address.slice(address.lastIndexOf(':') + 1)) <= 65535, 'the port must be 1-65535 (or 0 for any free port)');
/** Most bounds a request histogram may have: each is a series per model on every node. */
const MAX_BUCKET_BOUNDS = 30;

/** Histogram bucket upper bounds: strictly increasing positive numbers, as a list or `0.5,1,5` (flag, env). */
function bucketBounds(defaults: number[]) {
  const message = `expected at most ${MAX_BUCKET_BOUNDS} increasing positive bucket bounds, like 0.5,1,5`;
  return z
    .custom<string | number[]>((raw) => typeof raw === 'string' || Array.isArray(raw), message)
    .transform((raw, ctx) => {
      const bounds =
        typeof raw === 'string'
          ? raw
              .split(',')
              .filter((part) => part.trim() !== '')
              .map(Number)
          : raw;
      const valid =
        bounds.length <= MAX_BUCKET_BOUNDS &&
        bounds.every((bound, index) => typeof bound === 'number' && Number.isFinite(bound) && bound > 0 && (index === 0 || bound > bounds[index - 1]!));
      if (!valid) {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      return bounds;
    })
    .default(defaults);
}

const booleanish = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).transform((value) => value === true || value === 'true' || value === '1');
const optionalString = z.string().min(1).optional();
/** A DNS-1123 label, as Kubernetes names a namespace. */
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Namespaces as a YAML list, or comma-separated in a flag or the environment. */
const namespaceList = z
  .union([z.string().transform((text) => (text.trim() === '' ? [] : text.split(',').map((name) => name.trim()))), z.array(z.string())])
  .refine((names) => names.every((name) => NAMESPACE_NAME.test(name)), 'expected Kubernetes namespace names (lower-case DNS labels), comma-separated')
  .default([]);

const embodiedOverride = z.object({
  /** Matches the device's hw.name (substring, case-insensitive) or hw.type. */
  match: z.string().min(1),
  manufacturingKgCo2e: z.number().nonnegative(),
  lifetimeYears: z.number().positive(),
});

const touRate = z.object({
  /** Local start time HH:MM (inclusive); the rate holds until the next entry's start. */
  from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM'),
  pricePerKwh: z.number().nonnegative(),
});

/** Defaults of the windows API's limits, also the WindowStore's and the API's own when constructed without config (tests). */
export const WINDOW_DEFAULTS = {
  /** A Node SDK opening and ending a window per training step at 25 steps a second. */
  clientRatePerSecond: 50,
  /** A heartbeat every few seconds and phase changes now and then need far less. */
  ratePerSecond: 5,
  /**
   * 43,000 segments of labels they share, or 900 with five distinct 128-character astral-plane labels
   * each: a sixteenth of the chart's 64 MiB old generation, so trace ingest keeps its room under the heap guard.
   */
  segmentMaxBytes: 4 * 1024 * 1024,
};

const configSchema = z
  .object({
    listen: hostPort.default('0.0.0.0:9464'),
    ingestListen: hostPort.default('0.0.0.0:4318'),
    ingestGrpcListen: hostPort.default('0.0.0.0:4317'),
    interval: duration(100, 3_600_000).default(2000),
    hostRoot: z.string().min(1).default('/'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    logFormat: z.enum(['json', 'pretty']).default('json'),
    /**
     * The memory the daemon keeps itself within (src/ingest/memory-guard.ts). Unset: half the
     * cgroup's memory limit, or 256 MiB without one (src/memory-limit.ts). At least 128 MiB: the
     * daemon's own baseline is 60-70 MiB of RSS.
     */
    memoryLimit: size(128 * 2 ** 20, 2 ** 40).optional(),

    // Carbon
    zone: optionalString,
    cloudRegion: optionalString,
    intensity: z.coerce.number().finite().nonnegative().max(5000).optional(),
    pue: z.coerce.number().finite().min(1).max(3).default(1),
    intensityProvider: z.enum(['static', 'file', 'electricitymaps', 'watttime']).default('static'),
    intensityUrl: optionalString,
    intensityTokenFile: optionalString,
    /** Down to 1 s for tests and audits; providers rate-limit, so production keeps minutes (see docs/methodology.md). */
    intensityRefresh: duration(1000, 86_400_000).default(300_000),
    /** A live value older than this is replaced by the static one. */
    intensityMaxAge: duration(1000, 7 * 86_400_000).default(3_600_000),
    embodied: z.array(embodiedOverride).default([]),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code like USD')
      .default('USD'),
    pricePerKwh: z.coerce.number().finite().nonnegative().default(0),
    /** Time-of-use schedule; when set it replaces pricePerKwh. */
    tariff: z.array(touRate).min(1).optional(),
    tariffTimeZone: z.string().min(1).default('UTC'),
    /** Hardware price per device-hour by hw.type, e.g. { gpu: 2.5 }. */
    deviceHourPrice: z.record(z.string(), z.number().nonnegative()).default({}),

    // Devices
    nvmlLibrary: z.string().min(1).default('libnvidia-ml.so.1'),
    /** Bound on one NVML call so a hung driver cannot stall the sample loop. */
    deviceTimeout: duration(10, 60_000).default(1000),
    /** How often discovery runs again, so devices that become readable (permissions, driver, hot-plug) join without a restart. */
    rediscoverInterval: duration(10_000, 86_400_000).default(300_000),

    // Attribution and ingest
    attributionLag: duration(0, 600_000).default(15_000),
    /** How long idle time stays claimable by spans that arrive after their intervals closed; at least attributionLag. */
    attributionHorizon: duration(0, 3_600_000).default(600_000),
    /**
     * How long the intervals of a device that spans of two or more senders use wait instead of
     * attributionLag, so one sender cannot take a long request's time before its span arrives; used
     * within [attributionLag, attributionHorizon].
     */
    attributionClaimWindow: duration(0, 3_600_000).default(60_000),
    weightByTokens: booleanish.default(false),
    seriesIdleTimeout: duration(1000, 30 * 86_400_000).default(3_600_000),
    /**
     * Publish k8s.pod.name on workload series. Off by default: pods churn, and every new pod name is a new
     * series on every workload metric; the namespace, model, job and device stay.
     */
    podSeries: booleanish.default(false),
    /** Bounds of ml.request.duration (s) and ml.request.energy (J): each bound is a series per model and phase on every node. */
    requestDurationBuckets: bucketBounds([0.5, 1, 2.5, 10, 30]),
    requestEnergyBuckets: bucketBounds([5, 50, 500, 5000]),
    cardinalityLimit: z.coerce.number().int().min(10).max(1_000_000).default(2000),
    /**
     * Exposition bytes one workload metric's (ml.*) live series may take; their label values come from
     * outside, so the count limit alone let 128-character values make a 46 MB /metrics.
     */
    cardinalityLimitBytes: z.coerce
      .number()
      .int()
      .min(16 * 1024)
      .max(1024 * 1024 * 1024)
      .default(128 * 1024),
    ingestMaxBodyBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(4 * 1024 * 1024),
    ingestQueueLimit: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    ingestTokenFile: optionalString,
    /** Body bytes held at once across every ingest connection; the default leaves room under the chart's 512Mi limit. */
    ingestMaxInflightBytes: z.coerce
      .number()
      .int()
      .min(64 * 1024)
      .max(4 * 1024 * 1024 * 1024)
      .default(64 * 1024 * 1024),
    ingestBodyTimeout: duration(100, 120_000).default(10_000),
    ingestIdleTimeout: duration(100, 600_000).default(10_000),
    /** 512 + listenMaxConnections + 256 spare fits the common 1024-descriptor soft limit of containers. */
    ingestMaxConnections: z.coerce.number().int().min(1).max(1_000_000).default(512),
    listenIdleTimeout: duration(100, 600_000).default(10_000),
    listenMaxConnections: z.coerce.number().int().min(1).max(1_000_000).default(64),
    /** A span longer than this is invalid: no request holds a device this long, and an endless span would take every joule. */
    maxSpanDuration: duration(1000, 7 * 86_400_000).default(3_600_000),
    windowTtl: duration(1000, 86_400_000).default(120_000),
    /** Longest TTL a window may ask for; longer asks are cut to it. */
    windowMaxTtl: duration(1000, 86_400_000).default(600_000),
    windowsPerClient: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    /** Window requests per second from one client (peer address), with a two-second burst. */
    windowClientRatePerSecond: z.coerce.number().finite().min(0.1).max(1_000_000).default(WINDOW_DEFAULTS.clientRatePerSecond),
    /** Updates per second of one window (heartbeats, phase changes), with a two-second burst. */
    windowRatePerSecond: z.coerce.number().finite().min(0.1).max(1_000_000).default(WINDOW_DEFAULTS.ratePerSecond),
    /** Bytes of ended window segments kept for the ledger (labels counted once per distinct value). */
    windowSegmentMaxBytes: z.coerce
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .default(WINDOW_DEFAULTS.segmentMaxBytes),

    // Kubernetes
    kubernetes: booleanish.default(false),
    nodeName: optionalString,
    podLabelModel: z.string().default('footprint.dev/model'),
    podLabelJob: z.string().default('footprint.dev/job'),
    podLabelPhase: z.string().default('footprint.dev/phase'),
    /**
     * Namespaces whose pods may send spans for other pods (a node-local OTel Collector): their
     * resource's k8s.pod.uid or namespace + name is believed; any other pod's spans count under itself.
     */
    trustedForwarderNamespaces: namespaceList,

    // Export
    otlpEndpoint: z.url().optional(),
    otlpInterval: duration(1000, 3_600_000).default(30_000),
    /**
     * Where each settled request's `footprint.energy` span goes: the full URL, as the OTel SDKs take
     * it (http/protobuf: .../v1/traces; grpc: http://host:4317, https:// for TLS). Unset: no trace export.
     */
    tracesEndpoint: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    tracesProtocol: z.enum(['grpc', 'http/protobuf']).default('http/protobuf'),
    /** Headers (gRPC metadata) on every export, as OTEL_EXPORTER_OTLP_HEADERS writes them: `key=value,key2=value2`, values URL-encoded. */
    tracesHeaders: z
      .string()
      .regex(/^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*$/, 'expected key=value pairs separated by commas, e.g. authorization=Bearer%20abc')
      .optional(),
    /** PEM file of the CA that signs the receiver's certificate (instead of the system's). */
    tracesCertificate: optionalString,
    /** PEM files of the client certificate and its key, for a receiver that asks for one (mTLS). */
    tracesClientCertificate: optionalString,
    tracesClientKey: optionalString,
    tracesCompression: z.enum(['gzip', 'none']).default('none'),
    tracesTimeout: duration(100, 120_000).default(10_000),
    /** footprint.energy spans waiting for the receiver at most; more are dropped and counted. */
    tracesQueueSize: z.coerce.number().int().min(1).max(1_000_000).default(2048),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof Config)[];

/** `hostRoot` -> `FOOTPRINT_HOST_ROOT`, the environment variable of a key. */
export function envName(key: string): string {
  return `FOOTPRINT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `hostRoot` -> `host-root`, the flag of a key. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Keys whose value is structured (arrays, records): given as JSON in env, never as flags. */
export const STRUCTURED_KEYS: ReadonlySet<string> = new Set(['embodied', 'tariff', 'deviceHourPrice']);

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const value = env[envName(key)];
    if (value === undefined || value === '') continue;
    if (!STRUCTURED_KEYS.has(key)) {
      out[key] = value;
      continue;
    }
    try {
      out[key] = JSON.parse(value);
    } catch {
      throw new ConfigError(`config: ${envName(key)}: '${value}' is not valid JSON`);
    }
  }
  return out;
}

/** Largest config file read; a real one is a few KiB. */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/**
 * Reads a small regular file named by config key `key`: refuses FIFOs and devices (a read would
 * block start-up) and anything over `maxBytes`, before reading a byte.
 */
export function readSmallFile(path: string, key: string, maxBytes: number): string {
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw new ConfigError(`config: ${key}: '${path}' is not a regular file; point it at a file`);
    if (stats.size > maxBytes)
      throw new ConfigError(`config: ${key}: '${path}' is ${stats.size} bytes, over the limit of ${maxBytes}; point it at the right file`);
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`config: ${key}: cannot read '${path}': ${(error as Error).message}`);
  }
}

async function fromFile(path: string): Promise<Record<string, unknown>> {
  const text = readSmallFile(path, '--config', MAX_CONFIG_FILE_BYTES);
  // The YAML parser is loaded only when there is a file to read: most nodes are configured by flags and environment.
  // yaml is CommonJS: its exports are the module's default export, in Node as in the bundle.
  const { default: yaml } = await import('yaml');
  let parsed: unknown;
  try {
    parsed = yaml.parse(text);
  } catch (error) {
    throw new ConfigError(`config: ${path}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config: ${path}: expected a mapping of keys to values`);
  }
  return parsed as Record<string, unknown>;
}

function describeValue(input: Record<string, unknown>, path: PropertyKey[]): string {
  let value: unknown = input;
  for (const part of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[part];
  if (value === undefined) return '(missing)';
  // JSON.stringify writes Infinity (YAML's 1e999) as null; numbers print as themselves.
  return `'${typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value)}'`;
}

/** Validates merged input; the first problem becomes one line naming key, value and accepted range. */
export function parseConfig(input: Record<string, unknown>): Config {
  const result = configSchema.safeParse(input);
  if (result.success) return checkCombinations(result.data);
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new ConfigError(`config: unknown key '${issue.keys[0]}'; known keys: ${CONFIG_KEYS.join(', ')}`);
  }
  const key = issue.path.map(String).join('.');
  throw new ConfigError(`config: ${key}: ${describeValue(input, issue.path)} is invalid: ${issue.message}`);
}

/** Rules that span keys; each failure names the key to change. */
function checkCombinations(config: Config): Config {
  if (config.attributionHorizon < config.attributionLag) {
    throw new ConfigError(
      `config: attributionHorizon: ${config.attributionHorizon}ms is invalid: must be at least attributionLag (${config.attributionLag}ms), as idle stays claimable only after its interval closes`,
    );
  }
  if ((config.tracesClientCertificate === undefined) !== (config.tracesClientKey === undefined)) {
    const missing = config.tracesClientKey === undefined ? 'tracesClientKey' : 'tracesClientCertificate';
    throw new ConfigError(`config: ${missing}: (missing) is invalid: tracesClientCertificate and tracesClientKey go together (mTLS); set both or neither`);
  }
  const tls = config.tracesCertificate ?? config.tracesClientCertificate;
  if (tls !== undefined && config.tracesEndpoint !== undefined && !config.tracesEndpoint.startsWith('https:')) {
    const key = config.tracesCertificate !== undefined ? 'tracesCertificate' : 'tracesClientCertificate';
    throw new ConfigError(`config: ${key}: '${tls}' is invalid: TLS files need an https:// tracesEndpoint (it is '${config.tracesEndpoint}')`);
  }
  if (config.windowTtl > config.windowMaxTtl) {
    throw new ConfigError(
      `config: windowTtl: '${config.windowTtl}ms' is invalid: it must not exceed windowMaxTtl (${config.windowMaxTtl}ms); lower it or raise windowMaxTtl`,
    );
  }
  return config;
}

export interface ConfigSources {
  /** Values given as flags, already keyed by config key. */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Path of the YAML file (`--config` / FOOTPRINT_CONFIG). */
  file?: string;
}

export async function loadConfig({ flags = {}, env = process.env, file }: ConfigSources): Promise<Config> {
  const path = file ?? env.FOOTPRINT_CONFIG;
  const merged = { ...(path ? await fromFile(path) : {}), ...fromEnv(env), ...definedOnly(flags) };
  return parseConfig(merged);
}

function definedOnly(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

export function splitHostPort(address: string): { host: string; port: number } {
  const index = address.lastIndexOf(':');
  const host = address.slice(0, index).replace(/^\[|\]$/g, '');
  return { host: host || '0.0.0.0', port: Number(address.slice(index + 1)) };
}

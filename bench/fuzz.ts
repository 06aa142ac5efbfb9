// `npm run fuzz`: the long fuzz campaign against POST /v1/traces (protobuf, JSON) and the OTLP/gRPC
// TraceService/Export (protobuf) of the real daemon, run as a child process (`node bin/footprint.js
// start`) so a crash shows as refused connections. Cases per campaign and the seed are tunable:
// FUZZ_CASES (default 100000), FUZZ_SEED (default 1); FUZZ_TRANSPORTS picks campaigns
// (default "http,grpc").
// Prints one JSON line per campaign and a Markdown row to paste into docs/benchmarks.md.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/prom-server.ts';
import { grpcTransport, httpTransport, runCampaign, type FuzzEncoding, type FuzzTransport } from '../test/support/otlp-fuzz.ts';

const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 1);
const TRANSPORTS = (process.env.FUZZ_TRANSPORTS ?? 'http,grpc').split(',');

async function waitFor(url: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer`);
}

const metricsPort = await freePort();
const ingestPort = await freePort();
const grpcPort = await freePort();
const daemon = spawn(
  process.execPath,
  [
    'bin/footprint.js',
    'start',
    '--host-root',
    mkdtempSync(join(tmpdir(), 'footprint-fuzz-')),
    '--listen',
    `127.0.0.1:${metricsPort}`,
    '--ingest-listen',
    `127.0.0.1:${ingestPort}`,
    '--ingest-grpc-listen',
    `127.0.0.1:${grpcPort}`,
    '--attribution-lag',
    '30s',
    '--log-level',
    'error',
  ],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
try {
  await waitFor(`http://127.0.0.1:${metricsPort}/readyz`);
  const rows: string[] = [];
  const campaigns: Array<{ transport: () => FuzzTransport; encoding: FuzzEncoding; enabled: boolean }> = [
    { transport: () => httpTransport(`http://127.0.0.1:${ingestPort}`), encoding: 'protobuf', enabled: TRANSPORTS.includes('http') },
    { transport: () => httpTransport(`http://127.0.0.1:${ingestPort}`), encoding: 'json', enabled: TRANSPORTS.includes('http') },
    { transport: () => grpcTransport(`127.0.0.1:${grpcPort}`), encoding: 'protobuf', enabled: TRANSPORTS.includes('grpc') },
  ];
  // Each campaign keeps its seed (SEED + its place in the list) whichever campaigns run.
  for (const [index, { transport: makeTransport, encoding, enabled }] of campaigns.entries()) {
    if (!enabled) continue;
    const transport = makeTransport();
    const result = await runCampaign({ transport, encoding, cases: CASES, seed: SEED + index });
    transport.close();
    console.log(JSON.stringify(result));
    const other = Object.entries(result.statuses).filter(([status]) => status !== '200' && status !== '400');
    rows.push(
      `| ${result.transport} | ${encoding} | ${result.seed} | ${result.cases} | ${result.statuses[200] ?? 0} | ${result.statuses[400] ?? 0} | ${other.map(([s, n]) => `${s}: ${n}`).join(', ') || 'none'} | ${result.transportErrors} | ${(result.durationMs / 1000).toFixed(1)} |`,
    );
  }
  const alive = (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status;
  console.log(
    `\n| transport | encoding | seed | cases | 200 | 400 | other statuses | transport errors | seconds |\n|---|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n\n/healthz after the campaign: ${alive}`,
  );
  if (daemon.exitCode !== null) throw new Error(`the daemon exited with ${daemon.exitCode}`);
} finally {
  daemon.kill('SIGTERM');
}

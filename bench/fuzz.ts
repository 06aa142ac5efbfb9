// `npm run fuzz`: the long fuzz campaign against POST /v1/traces (protobuf, JSON) and the OTLP/gRPC
// TraceService/Export (protobuf) of the real daemon, run as a child process (`node bin/footprint.js
// start`) so a crash shows as refused connections. Cases per campaign and the seed are tunable:
// FUZZ_CASES (default 100000), FUZZ_SEED (default 1); FUZZ_TRANSPORTS picks campaigns
// (default "http,grpc").
// Prints one JSON line per campaign and a Markdown row to paste into docs/benchmarks.md.
import { spawnDaemon } from '../test/support/daemon-process.ts';
import { grpcTransport, httpTransport, runCampaign, type FuzzEncoding, type FuzzTransport } from '../test/support/otlp-fuzz.ts';

const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 1);
const TRANSPORTS = (process.env.FUZZ_TRANSPORTS ?? 'http,grpc').split(',');

const daemon = await spawnDaemon({ flags: ['--attribution-lag', '30s'] });
try {
  const rows: string[] = [];
  const campaigns: Array<{ transport: () => FuzzTransport; encoding: FuzzEncoding; enabled: boolean }> = [
    { transport: () => httpTransport(daemon.ingestUrl), encoding: 'protobuf', enabled: TRANSPORTS.includes('http') },
    { transport: () => httpTransport(daemon.ingestUrl), encoding: 'json', enabled: TRANSPORTS.includes('http') },
    { transport: () => grpcTransport(daemon.grpcAddress), encoding: 'protobuf', enabled: TRANSPORTS.includes('grpc') },
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
  const alive = (await fetch(`${daemon.metricsUrl}/healthz`)).status;
  console.log(
    `\n| transport | encoding | seed | cases | 200 | 400 | other statuses | transport errors | seconds |\n|---|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n\n/healthz after the campaign: ${alive}`,
  );
  if (daemon.child.exitCode !== null) throw new Error(`the daemon exited with ${daemon.child.exitCode}\n${daemon.output()}`);
} finally {
  await daemon.stop();
}

// The report's failures must say what to fix: which URL did not answer, which flag is wrong.
import { afterEach, describe, expect, it } from 'vitest';
import { reportCommand } from '../../src/report/command.ts';
import { PrometheusError } from '../../src/report/prometheus-client.ts';
import { runReport } from '../../src/report/run.ts';
import { ReportArgumentError } from '../../src/report/time-args.ts';
import { freePort } from '../support/report-prometheus.ts';

describe('footprint report errors', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('names the URL and the errno when Prometheus is down', async () => {
    const port = await freePort();
    const error = await runReport({ prometheus: `http://127.0.0.1:${port}`, from: 'now-1d', to: 'now', out: 'test/.tmp/report/down' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusError);
    expect((error as Error).message).toMatch(new RegExp(`^cannot reach Prometheus at http://127\\.0\\.0\\.1:${port}/: .*ECONNREFUSED`));
  });

  it('rejects a malformed --from before any query', async () => {
    const error = await runReport({ prometheus: 'http://127.0.0.1:1', from: 'last tuesday', to: 'now' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportArgumentError);
    expect((error as Error).message).toMatch(/^--from: cannot parse "last tuesday"/);
  });

  it('rejects a --prometheus value that is not an http(s) URL', async () => {
    await expect(runReport({ prometheus: 'prometheus:9090', from: 'now-1d', to: 'now' })).rejects.toThrow(/^--prometheus: "prometheus:9090" must be an http/);
  });

  it("rejects a step that would exceed Prometheus's point limit, naming --step", async () => {
    await expect(runReport({ prometheus: 'http://127.0.0.1:1', from: 'now-30d', to: 'now', step: '1m' })).rejects.toThrow(/^--step: 1m gives 43200 points/);
  });

  it('the command prints one line and exits 2 for a bad flag, 1 for an unreachable server', async () => {
    const written: string[] = [];
    const originalWrite = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      await reportCommand().parseAsync(['--prometheus', 'http://127.0.0.1:1', '--from', 'soon', '--to', 'now'], { from: 'user' });
      expect(process.exitCode).toBe(2);
      const port = await freePort();
      await reportCommand().parseAsync(['--prometheus', `http://127.0.0.1:${port}`, '--out', 'test/.tmp/report/down'], { from: 'user' });
      expect(process.exitCode).toBe(1);
    } finally {
      process.stderr.write = originalWrite;
    }
    expect(written[0]).toBe(
      'footprint report: --from: cannot parse "soon"; use RFC 3339 (2025-01-31T00:00:00Z), unix seconds (1738281600), now, or now-30d / now-12h\n',
    );
    expect(written.at(-1)).toMatch(/^footprint report: cannot reach Prometheus at http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/);
  });
});

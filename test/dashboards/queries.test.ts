// Every shipped PromQL expression runs on a real Prometheus (with footprint's rule files loaded, so
// they load too). Without data the answer is empty, but a syntax or type error is an error: this
// proves each query, with Grafana's variables and macros substituted, is valid PromQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { startPrometheus, type RunningPrometheus } from '../support/prom-server.ts';
import { dashboardExprs, grafanaAlertExprs, ruleExprs, ruleFiles, substitute } from './exprs.ts';

const ALL = { cluster: '.*', node: '.*', namespace: '.*', model: '.*', job: '.*' };

describe.skipIf(skipWithoutPromBinaries('prometheus'))('every shipped expression parses and evaluates on Prometheus', () => {
  let prometheus: RunningPrometheus;
  beforeAll(async () => {
    prometheus = await startPrometheus({ ruleFiles: ruleFiles() });
  });
  afterAll(async () => {
    await prometheus?.stop();
  });

  it.each([...dashboardExprs(), ...ruleExprs(), ...grafanaAlertExprs()].map((e) => ({ ...e })))('$where', async ({ expr }) => {
    const query = substitute(expr, { variables: ALL, rateInterval: '2m', range: '1h' });
    expect(query).not.toMatch(/\$/);
    const result = await prometheus.query(query);
    expect(['vector', 'scalar', 'matrix']).toContain(result.resultType);
  });

  it('loads every rule file', async () => {
    const response = await fetch(`${prometheus.url}/api/v1/rules`);
    const body = (await response.json()) as { data: { groups: { file: string }[] } };
    expect(new Set(body.data.groups.map((g) => g.file)).size).toBe(ruleFiles().length);
  });
});

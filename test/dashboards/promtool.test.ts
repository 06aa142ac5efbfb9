// The Prometheus rule files pass `promtool check rules`, and the unit tests under
// deploy/prometheus/tests (each alert fires just above its threshold and stays silent just below)
// pass `promtool test rules`.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { skipWithoutPromBinaries } from '../support/prom-binaries.ts';
import { promtool } from '../support/promtool.ts';
import { REPO_ROOT, ruleFiles } from './exprs.ts';

interface UnitTestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}
interface RuleFileYaml {
  groups: { rules: { alert?: string }[] }[];
}
const TESTS_DIR = join(REPO_ROOT, 'deploy/prometheus/tests');

describe.skipIf(skipWithoutPromBinaries('promtool'))('Prometheus rules', () => {
  it('pass promtool check rules', async () => {
    const output = await promtool('check', 'rules', ...ruleFiles());
    expect(output).not.toMatch(/FAILED/);
  });

  it.each(readdirSync(TESTS_DIR).filter((f) => f.endsWith('.yaml')))(
    'promtool test rules %s',
    async (file) => {
      const output = await promtool('test', 'rules', join(TESTS_DIR, file));
      expect(output).toMatch(/SUCCESS/);
    },
    // Three days of per-minute evaluations (the ticket windows) take about a minute on an idle machine.
    300_000,
  );

  it('every alert has unit tests that expect it to fire and to stay silent', () => {
    const checks = readdirSync(TESTS_DIR).flatMap((file) =>
      (parse(readFileSync(join(TESTS_DIR, file), 'utf8')) as UnitTestFile).tests.flatMap((test) => test.alert_rule_test ?? []),
    );
    const fired = new Set(checks.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    const silent = new Set(checks.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname));
    const alerts = new Set(
      ruleFiles().flatMap((path) =>
        (parse(readFileSync(path, 'utf8')) as RuleFileYaml).groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : []))),
      ),
    );
    expect([...alerts].filter((alert) => !fired.has(alert) || !silent.has(alert))).toEqual([]);
  });
});

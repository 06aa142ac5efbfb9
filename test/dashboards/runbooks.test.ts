// Every alert, Prometheus or Grafana-managed, links a runbook section that exists in docs/alerts.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GRAFANA_ALERTING_FILE, REPO_ROOT, ruleFiles } from './exprs.ts';

const headingAnchors = new Set(
  [...readFileSync(join(REPO_ROOT, 'docs/alerts.md'), 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) =>
    m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^a-z0-9 -]/g, '')
      .replace(/ /g, '-'),
  ),
);

interface Annotated {
  annotations?: { runbook_url?: string; summary?: string; description?: string };
}

const alerts: Annotated[] = [
  ...ruleFiles().flatMap((path) =>
    (parse(readFileSync(path, 'utf8')) as { groups: { rules: (Annotated & { alert?: string })[] }[] }).groups.flatMap((g) => g.rules.filter((r) => r.alert)),
  ),
  ...(parse(readFileSync(GRAFANA_ALERTING_FILE, 'utf8')) as { groups: { rules: Annotated[] }[] }).groups.flatMap((g) => g.rules),
];

describe('runbooks', () => {
  it('every alert has a summary, a description and a runbook_url into docs/alerts.md that resolves', () => {
    expect(alerts.length).toBeGreaterThan(0);
    for (const { annotations } of alerts) {
      expect(annotations?.summary).toBeTruthy();
      expect(annotations?.description).toBeTruthy();
      const [file, anchor] = (annotations?.runbook_url ?? '').split('#');
      expect(file).toBe('docs/alerts.md');
      expect(headingAnchors.has(anchor!), anchor).toBe(true);
    }
  });
});

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensurePromtool } from '../src/promtool.ts';

const dir = fileURLToPath(new URL('../prometheus/', import.meta.url));
const repo = fileURLToPath(new URL('../../', import.meta.url));

interface Rule {
  alert: string;
  labels?: { severity?: string };
  annotations?: { summary?: string; runbook?: string };
}
interface Case {
  alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
}
const rules = (
  parse(readFileSync(join(dir, 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const cases = (parse(readFileSync(join(dir, 'alerts.test.yml'), 'utf8')) as { tests: Case[] }).tests.flatMap(
  (t) => t.alert_rule_test ?? [],
);

// The alert rules as Prometheus loads them: promtool parses every expression and runs the cases of
// alerts.test.yml (each alert silent before its `for`, firing after it with its labels and summary).
describe('alert rules (promtool)', () => {
  let promtool = '';
  // The first run downloads Debian's prometheus package (about 20 MB).
  beforeAll(() => {
    promtool = ensurePromtool();
  }, 300_000);
  const run = (...args: string[]) =>
    execFileSync(promtool, args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' });

  it('parse', () => {
    expect(run('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
  });

  it.each(rules.map((r) => [r.alert, r] as const))(
    '%s: severity, summary, a runbook in docs/runbooks/, tested firing and silent',
    (name, rule) => {
      expect(['page', 'ticket']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toBeTruthy();
      const runbook = rule.annotations?.runbook ?? '';
      expect(runbook).toMatch(/^docs\/runbooks\/[a-z0-9-]+\.md$/);
      expect(existsSync(join(repo, runbook)), `${runbook} exists`).toBe(true);
      expect(readFileSync(join(repo, runbook), 'utf8'), `${runbook} names the alert`).toContain(name);
      const mine = cases.filter((c) => c.alertname === name);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        'a firing case',
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        'a silent case',
      ).toBe(true);
    },
  );

  it('fire as the cases in alerts.test.yml expect', () => {
    expect(run('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS');
  });
});

import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { CellFigures, DemoSummary } from '../demo/summary.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** `npm start --silent -- <args>`: stdout, stderr and the exit code. */
async function npmStart(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return run('npm', ['start', '--silent', '--', ...args], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
    (error: { stdout: string; stderr: string; code: number }) => ({
      stdout: error.stdout,
      stderr: error.stderr,
      code: error.code,
    }),
  );
}

/** The demo's temporary database folders (one per run) that exist now. */
const demoDataDirs = () =>
  new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('massivesms-demo-data-')));
/** Those that appeared since `before`. */
const newDataDirs = (before: Set<string>) => [...demoDataDirs()].filter((n) => !before.has(n));

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** The relations the summary promises, for one cell or the totals. */
function expectFiguresAddUp(f: CellFigures, where: string): void {
  // Every request got exactly one verdict from the router.
  expect(f.accepted + sum(f.rejected) + f.suppressed + f.expired, `${where}: verdicts`).toBe(f.requested);
  // Every accepted message ended in exactly one terminal status.
  expect(f.delivered + f.undelivered + f.failed + f.stoppedAtDispatch, `${where}: fates`).toBe(f.accepted);
  // Only a carrier's receipt says delivered or undelivered; failovers are among Twilio's messages.
  expect(sum(f.sent), `${where}: sent`).toBeGreaterThanOrEqual(f.delivered + f.undelivered);
  expect(sum(f.sent)).toBeLessThanOrEqual(f.accepted);
  expect(f.sent.twilio ?? 0, `${where}: failovers`).toBeGreaterThanOrEqual(f.failovers);
  // One webhook per final status of a known controller and subscribed endpoint, each verified.
  expect(f.finalStatuses, `${where}: final statuses`).toBeGreaterThanOrEqual(
    f.accepted + f.suppressed + f.expired,
  );
  expect(f.finalStatuses).toBeLessThanOrEqual(f.accepted + f.suppressed + f.expired + sum(f.rejected));
  expect(f.webhooks.expected, `${where}: webhooks expected`).toBe(
    f.finalStatuses * f.webhooks.endpointsPerController,
  );
  expect(f.webhooks.delivered, `${where}: webhooks delivered`).toBe(f.webhooks.expected);
  expect(f.webhooks.deadLettered).toBe(0);
  expect(f.webhooks.signatureFailures).toBe(0);
  expect(f.audit.verified, `${where}: audit`).toBe(true);
  expect(f.audit.events).toBeGreaterThanOrEqual(f.requested - sum(f.rejected));
}

/** Checks a summary: the relations per cell and in total, and that the cells sum to the totals. */
function expectSummaryAddsUp(s: DemoSummary, requested: number): void {
  expect(s.requested).toBe(requested);
  expectFiguresAddUp(s, 'total');
  const cells = Object.values(s.cells);
  expect(cells.length).toBe(2);
  for (const [cell, f] of Object.entries(s.cells)) expectFiguresAddUp(f, cell);
  const numeric = [
    'requested',
    'accepted',
    'suppressed',
    'expired',
    'failovers',
    'ambiguous',
    'breakerTransitions',
    'delivered',
    'undelivered',
    'failed',
    'stoppedAtDispatch',
    'finalStatuses',
  ] as const;
  for (const key of numeric)
    expect(
      cells.reduce((n, c) => n + c[key], 0),
      `cells sum to the total: ${key}`,
    ).toBe(s[key]);
  for (const key of ['expected', 'delivered', 'retried', 'deadLettered', 'signatureFailures'] as const)
    expect(
      cells.reduce((n, c) => n + c.webhooks[key], 0),
      `webhooks.${key}`,
    ).toBe(s.webhooks[key]);
  for (const key of ['events', 'checkpoints'] as const)
    expect(
      cells.reduce((n, c) => n + c.audit[key], 0),
      `audit.${key}`,
    ).toBe(s.audit[key]);
  for (const code of Object.keys(s.rejected))
    expect(
      cells.reduce((n, c) => n + (c.rejected[code] ?? 0), 0),
      code,
    ).toBe(s.rejected[code]);
  for (const carrier of Object.keys(s.sent))
    expect(
      cells.reduce((n, c) => n + (c.sent[carrier] ?? 0), 0),
      carrier,
    ).toBe(s.sent[carrier]);
  // The planted trouble: 4 of each kind per 100 requests (purpose: EU only, so 2), each caught.
  const per100 = requested / 100;
  expect(s.rejected).toEqual({
    CONTRACT_UNDECODABLE: 4 * per100,
    SMS_UNKNOWN_CONTROLLER: 4 * per100,
    SMS_INVALID_RECIPIENT: 4 * per100,
    SMS_LANDLINE_RECIPIENT: 4 * per100,
    SMS_PURPOSE_NOT_ALLOWED: 2 * per100,
  });
  expect(s.suppressed + s.stoppedAtDispatch).toBeGreaterThanOrEqual(4 * per100);
  // The US Telnyx outage opened its breaker; one export verified offline; the final states are known.
  expect(s.cells.us.breakerTransitions).toBeGreaterThan(0);
  expect(s.audit.exportedEntries).toBeGreaterThan(0);
  expect(s.audit.exportedPeriod.wholeRun).toBe(true);
  for (const states of Object.values(s.breakers))
    for (const state of Object.values(states)) expect(['closed', 'open', 'half_open']).toContain(state);
  expect(s.messagesPerSecond).toBeGreaterThan(0);
  expect(existsSync(s.logFile)).toBe(true);
}

describe('npm start (the embedded demo)', () => {
  it('three default runs (JSON on stdout alone), a human run and a one-message run, side by side: every summary adds up, the story has no log lines and finishes', {
    timeout: 900_000,
  }, async () => {
    const [a, b, c, human, one] = await Promise.all([
      npmStart(['--json']),
      npmStart(['--json']),
      npmStart(['--json']),
      npmStart(['--messages', '100']),
      npmStart(['--messages', '1']),
    ]);
    for (const r of [a, b, c]) {
      expect(r.code, r.stderr).toBe(0);
      // Only the JSON object on stdout (what `| jq .` needs).
      expectSummaryAddsUp(JSON.parse(r.stdout) as DemoSummary, 500);
    }

    expect(human.code, human.stderr).toBe(0);
    const lines = human.stdout.split('\n');
    // The story, not the services' JSON logs, and no escape codes off a terminal.
    expect(lines.filter((l) => l.trimStart().startsWith('{'))).toEqual([]);
    expect(human.stdout).not.toContain('\u001b[');
    expect(human.stderr).toBe('');
    for (const stage of ['routing', 'dispatch', 'receipts', 'webhooks', 'audit'])
      expect(human.stdout).toMatch(new RegExp(`${stage} +done: \\d+/\\d+`));
    expect(human.stdout).toMatch(/us {2}telnyx outage begins/);
    expect(human.stdout).toMatch(/us {2}telnyx breaker opened after \d+ failed calls?/);
    expect(human.stdout).toContain('Demo summary: 100 requests');
    // The relations the summary states hold in its own figures.
    const verdicts = human.stdout.match(
      /accepted \+ rejected \+ suppressed \+ expired = requested: (\d+) \+ (\d+) \+ (\d+) \+ (\d+) = (\d+)/,
    );
    expect(verdicts).not.toBeNull();
    const [acc, rej, sup, exp, req] = verdicts!.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    expect([acc + rej + sup + exp, req]).toEqual([100, 100]);
    const hooks = human.stdout.match(
      /webhooks = final statuses × endpoints: (\d+) × (\d+) = (\d+); delivered (\d+)/,
    );
    expect(hooks).not.toBeNull();
    const [finals, endpoints, expected, delivered] = hooks!.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    expect([finals * endpoints, delivered]).toEqual([expected, expected]);
    // The audit stage ends with what the summary says was verified: every processing event produced.
    const auditDone = human.stdout.match(/audit +done: (\d+)\/(\d+)/);
    const inLedger = human.stdout.match(/processing events in the ledger +\d+ +\d+ +(\d+)/);
    expect(auditDone?.[1]).toBe(auditDone?.[2]);
    expect(auditDone?.[1]).toBe(inLedger?.[1]);
    expect(human.stdout).toMatch(/export verified offline: yes, \d+ entries, the whole run/);
    expect(human.stdout).toMatch(/telnyx breaker +(closed|open|half_open) +(closed|open|half_open)/);
    expect(human.stdout).toContain('Try next:');
    const logFile = human.stdout.match(/Service logs \(JSON lines\): (\S+)/)?.[1];
    expect(logFile && existsSync(logFile)).toBe(true);
    expect(readFileSync(logFile!, 'utf8')).toMatch(/^\{"level"/);

    // One message: the outage that begins is said to end.
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('Demo summary: 1 request in');
    if (one.stdout.includes('outage begins')) expect(one.stdout).toMatch(/us {2}telnyx outage ends/);
  });

  it('10,000 messages: completes, shows its rate, and its summary adds up', {
    timeout: 1_800_000,
  }, async () => {
    const r = await npmStart(['--messages', '10000', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectSummaryAddsUp(JSON.parse(r.stdout) as DemoSummary, 10_000);
  });

  it('--keep-running leaves the control API, simulators and receiver up, prints how to call them, and stops on Ctrl-C', {
    timeout: 300_000,
  }, async () => {
    const before = demoDataDirs();
    const child = spawn(
      'node_modules/.bin/node',
      ['bin/massivesms.ts', 'demo', '--messages', '20', '--keep-running'],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!stdout.includes('curl -s ') && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 200));
    const curl = stdout.match(
      /curl -s -H 'authorization: Bearer (\S+)' (http:\/\/127\.0\.0\.1:\d+\/v1\/controllers\/acme-us)\n/,
    );
    expect(curl, stdout).not.toBeNull();
    const res = await fetch(curl![2]!, { headers: { authorization: `Bearer ${curl![1]}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe('acme-us');
    const receiver = stdout.match(/curl -s (http:\/\/127\.0\.0\.1:\d+\/__admin\/counts)\n/)?.[1];
    expect((await fetch(receiver!)).status).toBe(200);
    const running = newDataDirs(before);
    expect(running).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    // Stopping removes the cells' temporary databases.
    expect(running.filter((n) => demoDataDirs().has(n))).toEqual([]);
  });

  it('Ctrl-C during a run exits 130, says so, and removes the temporary databases', {
    timeout: 300_000,
  }, async () => {
    const before = demoDataDirs();
    const child = spawn('node_modules/.bin/node', ['bin/massivesms.ts', 'demo', '--messages', '5000'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!stdout.includes('services up') && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 200));
    const running = newDataDirs(before);
    expect(running, stdout + stderr).toHaveLength(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('massivesms demo: interrupted');
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(running.filter((n) => demoDataDirs().has(n))).toEqual([]);
  });

  it('refuses bad options with the usage and exit 2, never a stack trace', async () => {
    for (const args of [
      ['--messages'],
      ['--messages', '-5'],
      ['--messages', 'lots'],
      ['--messages', '0'],
      ['--bogus'],
    ]) {
      const r = await npmStart(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage: massivesms demo [--messages N]');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout).toBe('');
    }
    const help = await npmStart(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--keep-running');
  });
});

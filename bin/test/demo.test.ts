import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('npm start (the embedded demo)', () => {
  it('routes and dispatches a campaign with every kind of trouble and a Telnyx outage, and prints the summary as JSON', {
    timeout: 180_000,
  }, async () => {
    const { stdout } = await run('npm', ['start', '--silent', '--', '--messages', '100', '--json'], {
      cwd: repoRoot,
      maxBuffer: 16 * 1024 * 1024,
    });
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      requested: number;
      accepted: number;
      rejected: Record<string, number>;
      suppressed: number;
      expired: number;
      sent: Record<string, number>;
      failovers: number;
      ambiguous: number;
      breakerTransitions: number;
      delivered: number;
      undelivered: number;
      failed: number;
      webhooks: { delivered: number; retried: number; deadLettered: number; signatureFailures: number };
      audit: { events: number; checkpoints: number; verified: boolean; exportedEntries: number };
      durationSeconds: number;
    };
    expect(summary.requested).toBe(100);
    const rejected = Object.values(summary.rejected).reduce((a, b) => a + b, 0);
    // Nothing is lost: every request ended in exactly one outcome.
    expect(summary.accepted + rejected + summary.suppressed + summary.expired).toBe(100);
    // The campaign's planted trouble (4 of each kind per 100, purpose 2: EU only) is caught.
    expect(summary.rejected).toEqual({
      CONTRACT_UNDECODABLE: 4,
      SMS_UNKNOWN_CONTROLLER: 4,
      SMS_INVALID_RECIPIENT: 4,
      SMS_LANDLINE_RECIPIENT: 4,
      SMS_PURPOSE_NOT_ALLOWED: 2,
    });
    expect(summary.suppressed).toBe(4);
    expect(summary.expired).toBe(4);
    expect(summary.accepted).toBe(74);
    // Every accepted message went out exactly once, through Telnyx or — during the US Telnyx
    // outage — Twilio, and came back delivered through signed receipts.
    expect((summary.sent.telnyx ?? 0) + (summary.sent.twilio ?? 0)).toBe(74);
    expect(summary.failovers).toBeGreaterThan(0);
    expect(summary.sent.twilio).toBeGreaterThanOrEqual(summary.failovers);
    expect(summary.breakerTransitions).toBeGreaterThan(0);
    // One send in the EU cell was accepted but never answered: reconciled, not resent, delivered.
    expect(summary.ambiguous).toBe(1);
    expect(summary.delivered).toBe(74);
    expect(summary.undelivered + summary.failed).toBe(0);
    // Each message of a known controller ends in one signed webhook to its endpoint (74 delivered,
    // 4 suppressed, 4 expired, 10 rejected with a known controller), verified by the receiver with
    // standardwebhooks and svix; one controller's endpoint fails every first attempt.
    expect(summary.webhooks.delivered).toBe(92);
    expect(summary.webhooks.retried).toBeGreaterThan(0);
    expect(summary.webhooks.deadLettered).toBe(0);
    expect(summary.webhooks.signatureFailures).toBe(0);
    // Every processing event reached its cell's ledger, which verified with its checkpoints, and so did
    // the first controller's export (its routing, sending and webhook events at least).
    expect(summary.audit.verified).toBe(true);
    expect(summary.audit.events).toBeGreaterThanOrEqual(100);
    expect(summary.audit.checkpoints).toBeGreaterThanOrEqual(2);
    expect(summary.audit.exportedEntries).toBeGreaterThan(0);
    expect(summary.durationSeconds).toBeGreaterThan(0);
  });

  it('refuses a bad --messages value', async () => {
    const failure = await run('npm', ['start', '--silent', '--', '--messages', 'lots'], {
      cwd: repoRoot,
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('--messages');
  });
});

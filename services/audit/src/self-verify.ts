// The audit service checks its own ledger after each checkpoint, as `massivesms audit verify` does,
// from where the previous check ended: each run reads only the entries appended since (trusting the
// chain hash stored before them), so it stays cheap. That trust is renewed by a full pass from seq 1
// at the first run and then every `fullEveryMs` (6 h): an edit of an old row is found within that.
// A failure is not moved past: every later run fails the same way until someone looks (the
// AuditLedgerVerifyFailed alert, docs/runbooks).
import type { Db } from '@massivesms/db';
import { Counter, Gauge, type Registry } from 'prom-client';
import { verifyLedger } from './adapters/pg-ledger.ts';

/** Returns `run()`, one incremental verification, and registers its metrics. */
export function ledgerSelfVerifier(
  db: Db,
  registry: Registry,
  options: {
    keys: readonly string[];
    onFailure: (seq: number, reason: string) => void;
    /** Between two full passes (default 6 h); 0: every run is a full pass. */
    fullEveryMs?: number;
  },
) {
  const fullEveryMs = options.fullEveryMs ?? 6 * 3_600_000;
  let fullAt: number | undefined;
  const runs = new Counter({
    name: 'audit_ledger_verifications_total',
    help: 'Incremental self-verifications of the ledger (hash chain, sequence, checkpoint roots and signatures), by outcome: ok, failed (the ledger does not verify), error (could not run).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const verifiedSeq = new Gauge({
    name: 'audit_ledger_verified_seq',
    help: 'Highest ledger sequence number the self-verification has checked.',
    registers: [registry],
  });
  const verifiedAt = new Gauge({
    name: 'audit_ledger_verified_timestamp_seconds',
    help: 'When the self-verification last succeeded (Unix seconds).',
    registers: [registry],
  });
  for (const outcome of ['ok', 'failed', 'error']) runs.inc({ outcome }, 0);
  let next = 1;
  return {
    async run(): Promise<void> {
      const full = fullAt === undefined || Date.now() - fullAt >= fullEveryMs;
      try {
        const result = await verifyLedger(db, { from: full ? 1 : next, keys: options.keys });
        if (!result.ok) {
          runs.inc({ outcome: 'failed' });
          options.onFailure(result.seq, result.reason);
          return;
        }
        runs.inc({ outcome: 'ok' });
        if (full) fullAt = Date.now();
        if (result.count > 0 && result.lastSeq >= next) {
          next = result.lastSeq + 1;
          verifiedSeq.set(result.lastSeq);
        }
        verifiedAt.set(Date.now() / 1_000);
      } catch {
        runs.inc({ outcome: 'error' });
      }
    },
  };
}

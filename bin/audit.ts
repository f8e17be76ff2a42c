// `massivesms audit verify`: checks a cell's audit ledger as an auditor would, from the database
// alone: every entry's chain hash from the exact bytes stored, and no gap in the sequence.
import { parseArgs } from 'node:util';
import { verifyLedger } from '@massivesms/audit/ledger';
import { commonSpec, databasePoolOptions, defineConfig, loadConfigOrExit, regions } from '@massivesms/config';
import { createPgDb } from '@massivesms/db';

/** The cell's database (each cell has its own); the cell from `--cell` or CELL names it in the output. */
export const auditVerifySpec = defineConfig({
  DATABASE_URL: commonSpec.DATABASE_URL,
  DATABASE_STATEMENT_TIMEOUT_MS: commonSpec.DATABASE_STATEMENT_TIMEOUT_MS,
  DATABASE_QUERY_TIMEOUT_MS: commonSpec.DATABASE_QUERY_TIMEOUT_MS,
  DATABASE_CONNECT_TIMEOUT_MS: commonSpec.DATABASE_CONNECT_TIMEOUT_MS,
});

const USAGE = `usage: massivesms audit                 run the audit service (configured by environment)
       massivesms audit verify [--cell us|eu] [--from SEQ] [--json]

  verify   check the cell's ledger (DATABASE_URL): every entry's hash chain from its stored bytes and
           a gap-free sequence; names the first bad sequence number. Exit 0 intact, 1 broken, 2 usage.
  --from   start at this sequence number, trusting the chain hash stored just before it.`;

/** Runs `massivesms audit verify …`; returns the exit code. */
export async function runAuditVerify(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { cell?: string; from?: string; json: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        cell: { type: 'string' },
        from: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    console.error(`massivesms audit verify: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const cell = values.cell ?? env.CELL;
  if (cell !== undefined && !(regions as readonly string[]).includes(cell)) {
    console.error(`massivesms audit verify: --cell must be one of: ${regions.join(', ')}\n\n${USAGE}`);
    return 2;
  }
  const from = values.from === undefined ? 1 : Number(values.from);
  if (!Number.isSafeInteger(from) || from < 1) {
    console.error(`massivesms audit verify: --from must be a sequence number (1 or more)\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfigOrExit(auditVerifySpec, env);
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-audit-verify' });
  try {
    const result = await verifyLedger(db, { from });
    const where = `ledger${cell ? ` of cell ${cell}` : ''}`;
    if (values.json)
      console.log(JSON.stringify({ cell: cell ?? null, from, ...result, lastHash: undefined }));
    else if (result.ok)
      console.log(
        `${where}: intact from seq ${from}: ${result.count} entries, last seq ${result.lastSeq}. No signed checkpoint yet, so rows dropped from the end cannot be detected.`,
      );
    else console.log(`${where}: BROKEN at seq ${result.seq} (${result.reason}): ${result.message}`);
    return result.ok ? 0 : 1;
  } finally {
    await db.close();
  }
}

// `massivesms audit verify`: checks a cell's audit ledger as an auditor would, from the database
// alone: every entry's chain hash from the exact bytes stored, no gap in the sequence, and every
// signed checkpoint (its root recomputed from the entries, its signature against the published key).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { auditCheckpointSigner, defaultAuditOrigin } from '@massivesms/audit/audit';
import { encodeBundle, verifyExport } from '@massivesms/audit/bundle';
import { auditSpec } from '@massivesms/audit/config';
import { verifyLedger } from '@massivesms/audit/ledger';
import {
  commonSpec,
  databasePoolOptions,
  databaseSpec,
  defineConfig,
  loadConfigOrExit,
  regions,
} from '@massivesms/config';
import type { Cell } from '@massivesms/contracts';
import { createPgDb } from '@massivesms/db';
import { parseVerifierKey } from '@massivesms/ledger';
import { LocalKms } from '@massivesms/privacy';
import { environmentHelp } from './help.ts';

/** The cell's database (each cell has its own); the cell from `--cell` or CELL names it in the output. */
export const auditVerifySpec = defineConfig({
  ...databaseSpec,
  KMS_MASTER_KEY: { ...commonSpec.KMS_MASTER_KEY, schema: commonSpec.KMS_MASTER_KEY.schema.optional() },
  AUDIT_ORIGIN: auditSpec.AUDIT_ORIGIN,
});

/** CELL as the commands with a `--cell` option read it: only as that option's default. */
export const cellOptionSpec = defineConfig({
  CELL: {
    ...commonSpec.CELL,
    schema: commonSpec.CELL.schema.optional(),
    description: 'Default of `--cell` (`us` or `eu`): the cell the command works on.',
  },
});

const USAGE = `usage: massivesms audit                 run the audit service (configured by environment; --help)
       massivesms audit verify [--cell us|eu] [--from SEQ] [--key VKEY|@FILE] [--json]
       massivesms audit verify-export BUNDLE [--key VKEY|@FILE] [--json]

  verify         check the cell's ledger (DATABASE_URL): every entry's hash chain from its stored
                 bytes, a gap-free sequence, and every signed checkpoint (root recomputed from the
                 entries, signature checked; the last checkpoint is the head the ledger must reach).
                 Names the first bad sequence number. Exit 0 intact, 1 broken, 2 usage.
  verify-export  check a controller's audit export offline (no database): see services/audit/README.md.
  --from         start at this sequence number, trusting what is stored before it.
  --key          the published verifier key (name+keyid+base64), or @file holding it. Default: the
                 key the KMS (KMS_MASTER_KEY) holds for the cell's origin (AUDIT_ORIGIN).`;

/** `massivesms audit verify --help`. */
export function auditVerifyHelp(): string {
  return `${USAGE}\n\n${environmentHelp([auditVerifySpec, cellOptionSpec])}`;
}

/** `massivesms audit verify-export --help`: it reads no environment. */
export function auditVerifyExportHelp(): string {
  return `${USAGE}\n\n${environmentHelp([])}`;
}

/** A verifier key given as text or @file; throws KeyFormatError when it is none. */
export function readVerifierKey(arg: string): string {
  const text = (arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg).trim();
  parseVerifierKey(text);
  return text;
}

/** Runs `massivesms audit verify …`; returns the exit code. */
export async function runAuditVerify(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: { cell?: string; from?: string; key?: string; json: boolean; help: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        cell: { type: 'string' },
        from: { type: 'string' },
        key: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    console.error(`massivesms audit verify: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(auditVerifyHelp());
    return 0;
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
  let key: string | undefined;
  try {
    if (values.key !== undefined) key = readVerifierKey(values.key);
    else if (config.kmsMasterKey !== undefined && cell !== undefined) {
      const origin = config.auditOrigin ?? defaultAuditOrigin(cell as Cell);
      key = (await auditCheckpointSigner(new LocalKms(config.kmsMasterKey), origin)).verifierKey;
    }
  } catch (error) {
    console.error(`massivesms audit verify: --key: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-audit-verify' });
  try {
    const result = await verifyLedger(db, { from, ...(key ? { keys: [key] } : {}) });
    const where = `ledger${cell ? ` of cell ${cell}` : ''}`;
    if (values.json)
      console.log(
        JSON.stringify({ cell: cell ?? null, from, key: key ?? null, ...result, lastHash: undefined }),
      );
    else if (result.ok) {
      const checkpoints =
        result.lastCheckpoint === null
          ? 'No signed checkpoint yet, so rows dropped from the end cannot be detected.'
          : `${result.checkpoints} signed checkpoints match the entries (last at tree size ${result.lastCheckpoint}); ${
              key
                ? `signatures verified with ${key}.`
                : 'signatures NOT checked: give --key (the published verifier key).'
            }`;
      console.log(
        `${where}: intact from seq ${from}: ${result.count} entries, last seq ${result.lastSeq}. ${checkpoints}`,
      );
    } else console.log(`${where}: BROKEN at seq ${result.seq} (${result.reason}): ${result.message}`);
    return result.ok ? 0 : 1;
  } finally {
    await db.close();
  }
}

/**
 * Runs `massivesms audit verify-export BUNDLE [--key K] [--json]`: checks a controller's export
 * offline (the bundle file as downloaded, or a directory holding its files); exit 0 verified,
 * 1 refused (naming the file and seq), 2 usage.
 */
export async function runAuditVerifyExport(args: string[]): Promise<number> {
  let values: { key?: string; json: boolean; help: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        key: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
    if (values.help) {
      console.log(auditVerifyExportHelp());
      return 0;
    }
    if (positionals.length !== 1) throw new Error('give exactly one BUNDLE (file or directory)');
  } catch (error) {
    console.error(`massivesms audit verify-export: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  let bundle: Uint8Array;
  let key: string | undefined;
  try {
    key = values.key === undefined ? undefined : readVerifierKey(values.key);
    bundle = readBundle(positionals[0]!);
  } catch (error) {
    console.error(`massivesms audit verify-export: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const result = verifyExport(bundle, key === undefined ? {} : { trustedKey: key });
  if (values.json) console.log(JSON.stringify(result));
  else if (result.ok) {
    const m = result.manifest;
    console.log(
      `export of controller ${m.controllerId} (cell ${m.cell}, ${m.period.from} to ${m.period.to}): VERIFIED: ${m.entries} entries${
        m.entries > 0 ? ` (seq ${m.firstSeq} to ${m.lastSeq})` : ''
      }, each proven in the tree of signed checkpoint ${m.head}; checkpoints ${m.checkpoints.join(', ')} consistent; key id ${result.keyId}${
        key
          ? ' (the trusted key)'
          : ' (from the bundle: compare it with the key MassiveSMS publishes, or pass --key)'
      }.`,
    );
  } else
    console.log(
      `export REFUSED: ${result.file}${result.seq === undefined ? '' : ` seq ${result.seq}`} (${result.reason}): ${result.message}`,
    );
  return result.ok ? 0 : 1;
}

/** The bundle's bytes: the file itself, or a directory of its files packed as the service would. */
function readBundle(path: string): Uint8Array {
  if (!statSync(path).isDirectory()) return readFileSync(path);
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files[relative(path, full).split(sep).join('/')] = readFileSync(full, 'utf8');
    }
  };
  walk(path);
  return encodeBundle(files);
}

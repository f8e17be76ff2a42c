// `massivesms breach-scope`: what a breached subprocessor or service held of each controller's data in
// a window (DPA §9), from the cell's audit ledger, and the draft Art. 33 notice. Counts and pseudonyms
// only: the ledger holds nothing else.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type BreachScope,
  BreachScopeInputError,
  parseBreachTarget,
  parseControllerId,
  parsePeriod,
} from '@massivesms/audit/breach';
import { breachNotice } from '@massivesms/audit/breach-notice';
import { breachScope } from '@massivesms/audit/breach-scope';
import { auditSpec } from '@massivesms/audit/config';
import {
  databasePoolOptions,
  databaseSpec,
  defineConfig,
  loadConfigOrExit,
  regions,
} from '@massivesms/config';
import { createPgDb } from '@massivesms/db';
import { cellOptionSpec } from './audit.ts';
import { describeStartFailure } from './failures.ts';
import { environmentHelp } from './help.ts';

/** The cell's database and the contact point named in notices. */
export const breachScopeSpec = defineConfig({
  ...databaseSpec,
  AUDIT_PRIVACY_CONTACT: auditSpec.AUDIT_PRIVACY_CONTACT,
});

export const BREACH_SCOPE_USAGE = `usage: massivesms breach-scope --subprocessor NAME --from ISO --to ISO [--cell us|eu]
         [--controller ID] [--subjects] [--json] [--notice FILE] [--nature TEXT] [--measures TEXT]

  Scopes a personal data breach (DPA §9) from the cell's audit ledger (DATABASE_URL): for every
  controller whose data the subprocessor or service processed in [--from, --to), the distinct data
  subjects (by pseudonym), the data categories, the record and message counts, and whether each
  category was encrypted at rest and in transit there. Counts and pseudonyms only, never a number,
  name or message body. The same as GET /v1/breach-scope on the audit service (operator token).

  --subprocessor  telnyx, twilio (or any subprocessor name the ledger records), or one of our
                  services: control, router, dispatcher, webhooks, audit.
  --from, --to    the window, ISO 8601 instants with offset (e.g. 2026-12-01T00:00:00Z); --to excluded.
  --cell          the cell whose ledger DATABASE_URL holds (default CELL); named in the report.
  --controller    only this controller (its notice then carries no other controller's figures).
  --subjects      list the subjects' pseudonyms per controller (with --json).
  --json          print the scope as JSON (format massivesms.breach-scope/1).
  --notice FILE   also write the draft GDPR Art. 33 notice (Markdown): one section per controller,
                  with the nature, categories and approximate numbers, likely consequences, measures
                  and the contact point (AUDIT_PRIVACY_CONTACT, default privacy@massivesms.com).
  --nature TEXT   what happened, for the notice (otherwise a placeholder to fill in).
  --measures TEXT measures already taken, for the notice (otherwise a placeholder).

  Exit 0 done, 1 the ledger could not be read, 2 usage. Example:
    massivesms breach-scope --subprocessor telnyx --from 2026-12-01T00:00:00Z --to 2026-12-02T00:00:00Z --notice notice.md`;

/** `massivesms breach-scope --help`: the usage and the environment it reads. */
export function breachScopeHelp(): string {
  return `${BREACH_SCOPE_USAGE}\n\n${environmentHelp([breachScopeSpec, cellOptionSpec])}`;
}

const yesNo = (value: boolean | null) => (value === null ? 'n/a' : value ? 'yes' : 'NO');

/** The scope for people: one line for the whole, one block per controller. */
export function formatBreachScope(scope: BreachScope): string {
  const t = scope.totals;
  const lines = [
    `breach scope of ${scope.target.kind} ${scope.target.name}${scope.cell ? `, cell ${scope.cell}` : ''}, ${scope.period.from} to ${scope.period.to} (ledger entries 1 to ${scope.ledgerSeq}):`,
    `${t.controllers} controllers, ${t.subjects} subjects (pseudonyms, counted per controller), ${t.records} records (${t.recordsWithoutSubject} without a subject), ${t.messages} messages`,
  ];
  for (const c of scope.controllers) {
    lines.push(
      `controller ${c.controllerId}: ${c.subjects} subjects, ${c.records} records (${c.recordsWithoutSubject} without a subject), ${c.messages} messages, ${c.firstAt} to ${c.lastAt}`,
    );
    for (const k of c.categories)
      lines.push(
        `  ${k.category}: ${k.records} records, ${k.subjects} subjects; encrypted at rest ${yesNo(k.encryption.atRest)}, in transit ${yesNo(k.encryption.inTransit)} (${k.encryption.basis})`,
      );
  }
  return lines.join('\n');
}

/** Runs `massivesms breach-scope …`; returns the exit code. */
export async function runBreachScope(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const refuse = (message: string) => {
    console.error(`massivesms breach-scope: ${message}\n\n${BREACH_SCOPE_USAGE}`);
    return 2;
  };
  let values: {
    subprocessor?: string;
    from?: string;
    to?: string;
    cell?: string;
    controller?: string;
    notice?: string;
    nature?: string;
    measures?: string;
    subjects: boolean;
    json: boolean;
    help: boolean;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        subprocessor: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        cell: { type: 'string' },
        controller: { type: 'string' },
        notice: { type: 'string' },
        nature: { type: 'string' },
        measures: { type: 'string' },
        subjects: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    return refuse((error as Error).message);
  }
  if (values.help) {
    console.log(breachScopeHelp());
    return 0;
  }
  let query: Parameters<typeof breachScope>[1];
  try {
    const cell = values.cell ?? env.CELL;
    if (cell !== undefined && !(regions as readonly string[]).includes(cell))
      throw new BreachScopeInputError(`--cell must be one of: ${regions.join(', ')}`);
    const controllerId = parseControllerId(values.controller);
    query = {
      target: parseBreachTarget(values.subprocessor),
      ...parsePeriod(values.from, values.to),
      includeSubjects: values.subjects,
      ...(controllerId === undefined ? {} : { controllerId }),
      ...(cell === undefined ? {} : { cell }),
    };
    if (values.notice === '') throw new BreachScopeInputError('--notice needs a file name');
  } catch (error) {
    if (error instanceof BreachScopeInputError) return refuse(error.message);
    throw error;
  }
  const config = loadConfigOrExit(breachScopeSpec, env);
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-breach-scope' });
  try {
    const scope = await breachScope(db, query);
    console.log(values.json ? JSON.stringify(scope) : formatBreachScope(scope));
    if (values.notice !== undefined) {
      writeFileSync(
        values.notice,
        breachNotice(scope, {
          contact: config.auditPrivacyContact,
          ...(values.nature === undefined ? {} : { nature: values.nature }),
          ...(values.measures === undefined ? {} : { measures: values.measures }),
        }),
      );
      if (!values.json) console.log(`draft notice written to ${values.notice}`);
    }
    return 0;
  } catch (error) {
    // A database problem, not a bug: one line, no stack; an unreachable server says where and what next.
    const unreachable = describeStartFailure(error, env);
    console.error(
      `massivesms breach-scope: ${unreachable ?? `the ledger could not be read: ${(error as Error).message}`}`,
    );
    return 1;
  } finally {
    await db.close();
  }
}

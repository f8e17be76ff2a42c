// The breach scope over the ledger (migration 0003): one statement reads the entries of one scope and
// window through its index (audit_ledger_subprocessor_time or audit_ledger_service_time, and
// audit_ledger_unscoped_time for entries older than the migration) and aggregates
// them per controller; the ledger's head is read first, so the answer is that of entries 1 … head.
import type { Db } from '@massivesms/db';
import { SUBPROCESSORS, type SubprocessorRegistry } from '@massivesms/privacy';
import {
  type BreachScope,
  type BreachTarget,
  type ControllerScope,
  describeSubprocessor,
  encryptionOf,
} from '../breach/scope.ts';

export interface BreachScopeQuery {
  readonly target: BreachTarget;
  /** Events that occurred in [from, to). */
  readonly from: Date;
  readonly to: Date;
  /** Only this controller (a notice for one controller carries no other's figures). */
  readonly controllerId?: string;
  /** List the subjects' pseudonyms per controller. */
  readonly includeSubjects?: boolean;
  /** The cell the ledger belongs to (named in the report). */
  readonly cell?: string;
}

interface Row {
  controller_id: string;
  events: string;
  records: string;
  without_subject: string;
  subjects: string;
  messages: string;
  first_at: Date;
  last_at: Date;
  regions: string[];
  instructions: string[] | null;
  pseudonyms: string[] | null;
  categories: { category: string; records: number; subjects: number }[] | null;
  operations: { service: string; operation: string; outcome: string; count: number }[] | null;
  transfers: { transferMechanism: string; count: number }[] | null;
}

/** Computes the breach scope of a subprocessor or service in a window from the cell's ledger. */
export async function breachScope(
  db: Db,
  query: BreachScopeQuery,
  options: { now?: () => Date; registry?: SubprocessorRegistry } = {},
): Promise<BreachScope> {
  const registry = options.registry ?? SUBPROCESSORS;
  const now = options.now ?? (() => new Date());
  const { target } = query;
  // A column name from a closed choice (never input). The entry's own field is checked too: the column
  // only finds rows, what counts is the hashed entry.
  const column = target.kind === 'subprocessor' ? 'subprocessor' : 'service';
  const { rows: head } = await db.query<{ seq: string | null }>('SELECT max(seq) AS seq FROM audit_ledger');
  const ledgerSeq = Number(head[0]?.seq ?? 0);
  const params: unknown[] = [target.name, query.from, query.to, ledgerSeq];
  if (query.controllerId !== undefined) params.push(query.controllerId);
  const { rows } = await db.query<Row>(
    `WITH hits AS MATERIALIZED (
       SELECT l.controller_id, j.e,
              (jsonb_array_length(j.e->'dataCategories') > 0 OR j.e ? 'subjectPseudonym') AS personal
         FROM (SELECT controller_id, entry FROM audit_ledger
                WHERE ${column} = $1 AND occurred_at >= $2 AND occurred_at < $3 AND seq <= $4
               UNION ALL -- entries appended before migration 0003, which have no scope columns
               SELECT controller_id, entry FROM audit_ledger
                WHERE service IS NULL AND occurred_at >= $2 AND occurred_at < $3 AND seq <= $4) l,
              LATERAL (SELECT convert_from(l.entry, 'UTF8')::jsonb AS e) j
        WHERE j.e->>'${column}' = $1
          ${query.controllerId === undefined ? '' : 'AND l.controller_id = $5'}
     ), per AS (
       SELECT controller_id, count(*) AS events,
              count(*) FILTER (WHERE personal) AS records,
              count(*) FILTER (WHERE personal AND NOT e ? 'subjectPseudonym') AS without_subject,
              count(DISTINCT e->>'subjectPseudonym') AS subjects,
              count(DISTINCT e->>'messageId') FILTER (WHERE personal) AS messages,
              min((e->>'occurredAt')::timestamptz) AS first_at, max((e->>'occurredAt')::timestamptz) AS last_at,
              array_agg(DISTINCT e->>'region') AS regions,
              array_agg(DISTINCT e->>'instruction') FILTER (WHERE e ? 'instruction' AND personal) AS instructions,
              ${
                query.includeSubjects
                  ? `array_agg(DISTINCT e->>'subjectPseudonym') FILTER (WHERE e ? 'subjectPseudonym')`
                  : 'NULL::text[]'
              } AS pseudonyms
         FROM hits GROUP BY controller_id
     ), cats AS (
       SELECT controller_id,
              jsonb_agg(jsonb_build_object('category', category, 'records', n, 'subjects', s) ORDER BY category) AS categories
         FROM (SELECT controller_id, c AS category, count(*) AS n, count(DISTINCT e->>'subjectPseudonym') AS s
                 FROM hits, LATERAL jsonb_array_elements_text(e->'dataCategories') c
                GROUP BY 1, 2) x
        GROUP BY controller_id
     ), ops AS (
       SELECT controller_id,
              jsonb_agg(jsonb_build_object('service', service, 'operation', operation, 'outcome', outcome, 'count', n)
                        ORDER BY service, operation, outcome) AS operations
         FROM (SELECT controller_id, e->>'service' AS service, e->>'operation' AS operation,
                      e->>'outcome' AS outcome, count(*) AS n
                 FROM hits GROUP BY 1, 2, 3, 4) x
        GROUP BY controller_id
     ), xfer AS (
       SELECT controller_id,
              jsonb_agg(jsonb_build_object('transferMechanism', m, 'count', n) ORDER BY m) AS transfers
         FROM (SELECT controller_id, e->>'transferMechanism' AS m, count(*) AS n
                 FROM hits WHERE personal AND e ? 'transferMechanism' GROUP BY 1, 2) x
        GROUP BY controller_id
     )
     SELECT per.*, cats.categories, ops.operations, xfer.transfers
       FROM per LEFT JOIN cats USING (controller_id) LEFT JOIN ops USING (controller_id)
            LEFT JOIN xfer USING (controller_id)
      ORDER BY controller_id`,
    params,
  );
  const controllers: ControllerScope[] = rows.map((r) => ({
    controllerId: r.controller_id,
    subjects: Number(r.subjects),
    records: Number(r.records),
    recordsWithoutSubject: Number(r.without_subject),
    messages: Number(r.messages),
    events: Number(r.events),
    firstAt: r.first_at.toISOString(),
    lastAt: r.last_at.toISOString(),
    regions: [...r.regions].sort(),
    categories: (r.categories ?? []).map((c) => ({
      category: c.category,
      records: c.records,
      subjects: c.subjects,
      encryption: encryptionOf(target, c.category, registry),
    })),
    operations: r.operations ?? [],
    transfers: r.transfers ?? [],
    instructions: [...(r.instructions ?? [])].sort(),
    ...(query.includeSubjects ? { subjectPseudonyms: [...(r.pseudonyms ?? [])].sort() } : {}),
  }));
  const sum = (pick: (c: ControllerScope) => number) => controllers.reduce((n, c) => n + pick(c), 0);
  return {
    format: 'massivesms.breach-scope/1',
    target,
    subprocessor: describeSubprocessor(target, registry),
    cell: query.cell ?? null,
    period: { from: query.from.toISOString(), to: query.to.toISOString() },
    ledgerSeq,
    generatedAt: now().toISOString(),
    totals: {
      controllers: controllers.length,
      subjects: sum((c) => c.subjects),
      records: sum((c) => c.records),
      recordsWithoutSubject: sum((c) => c.recordsWithoutSubject),
      messages: sum((c) => c.messages),
    },
    controllers,
  };
}

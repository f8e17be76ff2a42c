// The operations a pipeline run performs, counted at the edges of a phase and subtracted:
// Kafka records produced (topic end offsets) and consumed (consumer groups' committed offsets),
// PostgreSQL work (statements as the services sent them, the server's transaction, row and WAL
// counters, per-table updates and how many were HOT) and HTTP exchanges (the simulators' counts).
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import type { StatementCounts } from './pg-statements.ts';

type Counts = Record<string, number>;

/** End offsets per topic and committed offsets per consumer group and topic (each summed over partitions). */
export interface KafkaOffsets {
  readonly endOffsets: Counts;
  readonly committed: Record<string, Counts>;
}

/** Reads the offsets of the bench's topics and of the consumer groups of its namespace. */
export class KafkaOffsetReader {
  readonly #admin;
  readonly #topics: readonly string[];
  readonly #groupPrefix: string;

  constructor(brokers: readonly string[], topics: readonly string[], groupPrefix: string) {
    this.#admin = new Kafka({
      clientId: 'bench-offsets',
      brokers: [...brokers],
      logLevel: logLevel.ERROR,
    }).admin();
    this.#topics = topics;
    this.#groupPrefix = groupPrefix;
  }

  connect(): Promise<void> {
    return this.#admin.connect();
  }

  close(): Promise<void> {
    return this.#admin.disconnect();
  }

  /** Deletes the namespace's consumer groups and `extra` ones (their offsets outlive the topics otherwise). */
  async deleteGroups(extra: readonly string[] = []): Promise<void> {
    const { groups } = await this.#admin.listGroups();
    const ids = groups
      .map((g) => g.groupId)
      .filter((id) => id.startsWith(this.#groupPrefix) || extra.includes(id));
    if (ids.length > 0) await this.#admin.deleteGroups(ids).catch(() => {});
  }

  async read(): Promise<KafkaOffsets> {
    const endOffsets: Counts = {};
    await Promise.all(
      this.#topics.map(async (topic) => {
        const partitions = await this.#admin.fetchTopicOffsets(topic);
        endOffsets[topic] = partitions.reduce((n, p) => n + Number(p.high), 0);
      }),
    );
    const { groups } = await this.#admin.listGroups();
    const committed: Record<string, Counts> = {};
    await Promise.all(
      groups
        .map((g) => g.groupId)
        .filter((id) => id.startsWith(this.#groupPrefix))
        .map(async (groupId) => {
          const topics = await this.#admin.fetchOffsets({ groupId, topics: [...this.#topics] });
          const byTopic: Counts = {};
          for (const { topic, partitions } of topics) {
            const offsets = partitions.map((p) => Number(p.offset)).filter((o) => o >= 0);
            if (offsets.length > 0) byTopic[topic] = offsets.reduce((a, b) => a + b, 0);
          }
          committed[groupId] = byTopic;
        }),
    );
    return { endOffsets, committed };
  }
}

/** Records not yet consumed by the groups, over the topics each has committed on. */
export function kafkaLag(offsets: KafkaOffsets): number {
  let lag = 0;
  for (const byTopic of Object.values(offsets.committed))
    for (const [topic, offset] of Object.entries(byTopic)) lag += (offsets.endOffsets[topic] ?? 0) - offset;
  return lag;
}

/** The server's counters of the bench database, cluster WAL, and the bench schema's tables. */
export interface PostgresCounters {
  readonly database: Counts;
  readonly wal: Counts;
  readonly tables: Record<string, Counts>;
  /** pg_stat_statements' calls in the bench database, when the server has it loaded (null otherwise). */
  readonly statementCalls: number | null;
}

/**
 * The server's counters now. PostgreSQL 15 flushes a backend's counters at most once a second, and
 * an idle backend's last ones up to 10 s later: read these 11 s after the work you count.
 */
export async function readPostgresCounters(client: pg.Client, schema: string): Promise<PostgresCounters> {
  const numbers = (row: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  const database = await client.query(
    `SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted,
            blks_read, blks_hit, temp_bytes
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  const wal = await client.query('SELECT wal_records, wal_bytes FROM pg_stat_wal');
  const tables = await client.query(
    `SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, seq_scan, seq_tup_read,
            idx_scan, idx_tup_fetch, n_live_tup, n_dead_tup
       FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
  );
  let statementCalls: number | null = null;
  try {
    const calls = await client.query(
      `SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    statementCalls = Number(calls.rows[0].calls);
  } catch {
    // not installed or not preloaded: the services' own statement counts stand alone
  }
  return {
    database: numbers(database.rows[0]),
    wal: numbers(wal.rows[0]),
    tables: Object.fromEntries(
      tables.rows.map(({ relname, ...row }: Record<string, unknown>) => [String(relname), numbers(row)]),
    ),
    statementCalls,
  };
}

/** HTTP exchanges the simulators saw (their `GET /__admin/counts`). */
export interface HttpCounts {
  readonly carrierSends: number;
  readonly receiptAttempts: number;
  readonly webhookRequests: number;
}

/** Sums the carriers' and the receiver's counts. */
export async function readHttpCounts(
  carrierOrigins: readonly string[],
  receiverOrigin: string,
): Promise<HttpCounts> {
  const get = async (origin: string) =>
    (await (await fetch(`${origin}/__admin/counts`)).json()) as Record<string, number>;
  const carriers = await Promise.all(carrierOrigins.map(get));
  const receiver = await get(receiverOrigin);
  return {
    carrierSends: carriers.reduce((n, c) => n + c.accepted!, 0),
    receiptAttempts: carriers.reduce((n, c) => n + c.receiptAttempts!, 0),
    webhookRequests: receiver.received!,
  };
}

/** `to − from` for every number in a (nested) record of counts; keys only in `to` count from 0. */
export function subtract<T>(to: T, from: T | undefined): T {
  if (typeof to === 'number') return (to - ((from as number | undefined) ?? 0)) as T;
  if (to === null || typeof to !== 'object') return to;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(to))
    out[k] = subtract(v, (from as Record<string, unknown> | undefined)?.[k]);
  return out as T;
}

/** Statement counts of several processes added up. */
export function addStatements(counts: readonly StatementCounts[]): StatementCounts {
  const out: StatementCounts = { statements: 0, named: 0, byKind: {} };
  for (const c of counts) {
    out.statements += c.statements;
    out.named += c.named;
    for (const [kind, n] of Object.entries(c.byKind)) out.byKind[kind] = (out.byKind[kind] ?? 0) + n;
  }
  return out;
}

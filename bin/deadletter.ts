// `massivesms deadletter list|replay`: the records consumers could not process, and producing them
// again to their source topic once the cause is fixed. How it works: docs/dead-letters.md.
import { parseArgs } from 'node:util';
import {
  commonSpec,
  defineConfig,
  kafkaConnectionOptions,
  kafkaSpec,
  loadConfigOrExit,
  regions,
} from '@massivesms/config';
import { type Cell, topicPrefix } from '@massivesms/contracts';
import {
  BrokerUnavailableError,
  type DeadLetterEntry,
  deadLetterTopics,
  KafkaBus,
  listDeadLetters,
  listRejections,
  replayDeadLetters,
  replayRejections,
  waitForBroker,
} from '@massivesms/kafka';
import { cellOptionSpec } from './audit.ts';
import { environmentHelp } from './help.ts';

/** Only the broker and the namespace: the cell comes from `--cell` (or CELL). */
export const deadLetterSpec = defineConfig({
  ...kafkaSpec,
  TOPIC_NAMESPACE: commonSpec.TOPIC_NAMESPACE,
});
const cellSpec = defineConfig({ CELL: commonSpec.CELL });

const USAGE = `usage: massivesms deadletter list   [--cell us|eu] [--topic T] [--code C] [--limit N] [--json]
       massivesms deadletter replay [--cell us|eu] (--offset P:N ... | --all [--topic T] [--code C]) [--dry-run] [--json]
       massivesms deadletter rejected [--cell us|eu] [--code C] [--limit N] [--json]
       massivesms deadletter replay-rejected [--cell us|eu] --offset P:N ... [--json]

  list     dead letters, oldest first (the last --limit, default 100): id (partition:offset), time,
           source topic/partition/offset, consumer group, code, attempts, value kept or not, when
           replayed, reason. Never the record's value.
  replay   produce dead letters again to their source topic (key, value, headers without dlq-*),
           once each: a replayed dead letter is recorded and skipped by later replays.
  rejected         the router's rejections (id, code, message, source); never the record.
  replay-rejected  produce rejected requests again, read back at their source position and checked
                   against the rejection's digest (a rejection keeps no plaintext).
  --cell   defaults to CELL; --topic matches the source topic (sms.status.v1 or its full name).`;

/** `massivesms deadletter --help` (and of each verb): the usage and the environment it reads. */
export function deadLetterHelp(): string {
  return `${USAGE}\n\n${environmentHelp([deadLetterSpec, cellOptionSpec])}`;
}

/** Runs `massivesms deadletter …`; returns the exit code. */
export async function runDeadLetterCommand(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    return usageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(deadLetterHelp());
    return 0;
  }
  const verb = positionals[0];
  const verbs = ['list', 'replay', 'rejected', 'replay-rejected'];
  if (positionals.length !== 1 || !verbs.includes(verb ?? '')) return usageError();
  if (verb === 'replay-rejected' && values.offset === undefined) {
    return usageError('replay-rejected takes --offset P:N (repeatable)');
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1)
    return usageError('--limit must be a whole number of at least 1');
  if (values.cell !== undefined && !(regions as readonly string[]).includes(values.cell)) {
    return usageError(`--cell must be one of: ${regions.join(', ')}`);
  }
  if (verb === 'replay' && (values.all === true) === (values.offset !== undefined)) {
    return usageError('replay takes either --offset P:N (repeatable) or --all');
  }
  if (values.cell === undefined && !env.CELL) return usageError('give --cell us|eu (or set CELL)');
  const config = loadConfigOrExit(deadLetterSpec, env);
  const cell = (values.cell as Cell | undefined) ?? loadConfigOrExit(cellSpec, env).cell;
  const namespace = config.topicNamespace ?? '';
  const topics = deadLetterTopics(cell, namespace);
  const connection = kafkaConnectionOptions(config);
  // The reader waits for the broker without end (it restarts on failure); a command should not: a
  // wrong password or an unreachable broker ends it within a bound, naming the cause.
  try {
    await waitForBroker(connection, 15_000);
  } catch (error) {
    if (!(error instanceof BrokerUnavailableError)) throw error;
    const cause = error.cause instanceof Error ? `: ${error.cause.name}: ${error.cause.message}` : '';
    console.error(
      `massivesms deadletter: no answer from Kafka at ${connection.brokers.join(',')} (KAFKA_BROKERS)${cause} — ` +
        'is Kafka running there? Start it (npm run infra:up does, for local development) or set KAFKA_BROKERS ' +
        '(and KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*) right, then run the command again.',
    );
    return 1;
  }
  const bus = new KafkaBus({ ...connection, clientId: 'massivesms-deadletter' });
  if (verb === 'rejected' || verb === 'replay-rejected') {
    try {
      return await rejections(bus, cell, namespace, verb, values);
    } finally {
      await bus.close();
    }
  }
  try {
    const all = await listDeadLetters(bus, topics);
    const matches = (d: DeadLetterEntry) =>
      (values.code === undefined || d.code === values.code) &&
      (values.topic === undefined ||
        d.source.topic === values.topic ||
        d.source.topic === `${topicPrefix(cell, namespace)}${values.topic}`);

    if (verb === 'list') {
      const shown = all.filter(matches).slice(-limit);
      if (values.json) for (const d of shown) console.log(JSON.stringify(summary(d)));
      else printTable(shown, all.filter(matches).length - shown.length);
      return 0;
    }

    let selected: DeadLetterEntry[];
    if (values.all) {
      selected = all.filter(matches);
    } else {
      const resolved = (values.offset ?? []).map((text) => resolve(all, text));
      const problem = resolved.find((r) => typeof r === 'string');
      if (problem !== undefined) {
        console.error(`massivesms deadletter: ${problem}`);
        return 1;
      }
      selected = [...new Set(resolved as DeadLetterEntry[])];
    }
    if (values['dry-run']) {
      for (const d of selected) {
        console.log(
          d.replayedAt
            ? `would skip ${d.id}: already replayed at ${d.replayedAt}`
            : `would replay ${d.id} to ${d.source.topic} (${d.code})`,
        );
      }
      return 0;
    }
    const outcome = await replayDeadLetters(bus, topics, selected);
    if (values.json) {
      const ids = (list: DeadLetterEntry[]) => list.map((d) => d.id);
      console.log(
        JSON.stringify({
          replayed: ids(outcome.replayed),
          alreadyReplayed: ids(outcome.alreadyReplayed),
          sourceGone: ids(outcome.sourceGone),
        }),
      );
    } else {
      for (const d of outcome.replayed) console.log(`replayed ${d.id} to ${d.source.topic} (${d.code})`);
      if (!values.all) {
        for (const d of outcome.alreadyReplayed)
          console.log(`skipped ${d.id}: already replayed at ${d.replayedAt}`);
      }
      for (const d of outcome.sourceGone) {
        console.log(
          `cannot replay ${d.id}: its value was not kept and ${position(d.source)} no longer holds it (retention)`,
        );
      }
      console.log(
        `replayed ${outcome.replayed.length}, skipped ${outcome.alreadyReplayed.length} already replayed, ` +
          `${outcome.sourceGone.length} not replayable`,
      );
    }
    return outcome.sourceGone.length > 0 ? 1 : 0;
  } finally {
    await bus.close();
  }
}

/** `rejected` and `replay-rejected`: the router's answers to bad input, and producing those records again. */
async function rejections(
  bus: KafkaBus,
  cell: Cell,
  namespace: string,
  verb: 'rejected' | 'replay-rejected',
  values: ReturnType<typeof parse>['values'],
): Promise<number> {
  const all = await listRejections(bus, cell, namespace);
  if (verb === 'rejected') {
    const shown = all
      .filter((e) => values.code === undefined || e.rejection.code === values.code)
      .slice(-Number(values.limit));
    for (const { id, rejection: r } of shown) {
      const line = {
        id,
        at: r.occurredAt,
        code: r.code,
        ...(r.messageId ? { controllerId: r.controllerId, messageId: r.messageId } : {}),
        source: r.source,
        sealed: r.sealed !== undefined,
        reason: r.reason,
      };
      console.log(
        values.json
          ? JSON.stringify(line)
          : `${id}  ${r.occurredAt}  ${r.code}  ${position(r.source)}  ${r.reason}`,
      );
    }
    if (!values.json && shown.length === 0) console.log('(no rejections)');
    return 0;
  }
  const selected = [];
  for (const text of values.offset ?? []) {
    const found = all.find((e) => e.id === text);
    if (!found) {
      console.error(
        `massivesms deadletter: no rejection at ${text} (ids are partition:offset, as rejected prints them)`,
      );
      return 1;
    }
    selected.push(found);
  }
  const outcome = await replayRejections(bus, selected);
  const ids = (list: readonly { id: string }[]) => list.map((e) => e.id);
  if (values.json) {
    console.log(
      JSON.stringify({
        replayed: ids(outcome.replayed),
        sourceGone: ids(outcome.sourceGone),
        refused: ids(outcome.refused),
      }),
    );
  } else {
    for (const e of outcome.replayed)
      console.log(`replayed ${e.id} to ${e.rejection.source.topic} (${e.rejection.code})`);
    for (const e of outcome.sourceGone)
      console.log(
        `cannot replay ${e.id}: ${position(e.rejection.source)} no longer holds the record (retention)`,
      );
    for (const e of outcome.refused) console.log(`refused ${e.id}: another region's record`);
  }
  return outcome.sourceGone.length + outcome.refused.length > 0 ? 1 : 0;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      cell: { type: 'string' },
      topic: { type: 'string' },
      code: { type: 'string' },
      limit: { type: 'string', default: '100' },
      offset: { type: 'string', multiple: true },
      all: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function usageError(message?: string): number {
  console.error(`${message ? `massivesms deadletter: ${message}\n` : ''}${USAGE}`);
  return 2;
}

/** `P:N` as `list` prints it, or a bare offset when only one partition has a dead letter there. */
function resolve(all: readonly DeadLetterEntry[], text: string): DeadLetterEntry | string {
  const found = text.includes(':') ? all.filter((d) => d.id === text) : all.filter((d) => d.offset === text);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) return `no dead letter at ${text} (ids are partition:offset, as list prints them)`;
  return `offset ${text} is on several partitions: say which (${found.map((d) => d.id).join(', ')})`;
}

const position = (p: { topic: string; partition: number; offset: string }) =>
  `${p.topic}/${p.partition}/${p.offset}`;

/** What list prints of a dead letter: everything but the value. */
function summary(d: DeadLetterEntry) {
  return {
    id: d.id,
    at: d.at,
    source: d.source,
    group: d.groupId,
    code: d.code,
    ...(d.field ? { field: d.field } : {}),
    reason: d.reason,
    attempts: d.attempts,
    retryable: d.retryable,
    value: d.valueKept ? 'kept' : 'omitted',
    replayedAt: d.replayedAt ?? null,
  };
}

function printTable(entries: readonly DeadLetterEntry[], hidden: number): void {
  const rows = [
    ['ID', 'DEAD-LETTERED AT', 'SOURCE', 'GROUP', 'CODE', 'TRIES', 'VALUE', 'REPLAYED AT', 'REASON'],
    ...entries.map((d) => [
      d.id,
      d.at,
      position(d.source),
      d.groupId,
      d.code,
      String(d.attempts),
      d.valueKept ? 'kept' : 'omitted',
      d.replayedAt ?? '-',
      d.reason,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) {
    console.log(
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
  }
  if (entries.length === 0) console.log('(no dead letters)');
  if (hidden > 0) console.log(`(${hidden} older not shown: raise --limit)`);
}

import type { Db, DbTx } from '@massivesms/db';

/** What became of a command: `done` (with how many deliveries were requeued) or `refused` (why). */
export interface CommandOutcome {
  readonly commandId: string;
  readonly kind: 'resend' | 'recover';
  readonly outcome: 'done' | 'refused';
  readonly requeued: number;
  readonly reason: string | null;
  readonly requestedAt: string;
  readonly finishedAt: string;
}

/** The record of carried-out commands (migration 0004): each command id takes effect once. */
export class PgCommandStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Claims the command inside `tx`: false when it was carried out before (a redelivery). A second
   * process claiming the same id waits on the primary key until the first commits, then gets false.
   */
  async claim(
    tx: DbTx,
    command: { commandId: string; controllerId: string; kind: string; requestedAt: Date },
    at: Date,
  ): Promise<boolean> {
    const { rows } = await tx.query(
      `INSERT INTO webhook_commands (command_id, controller_id, kind, outcome, requeued, requested_at, finished_at)
       VALUES ($1, $2, $3, 'refused', 0, $4, $5) ON CONFLICT (command_id) DO NOTHING RETURNING command_id`,
      [command.commandId, command.controllerId, command.kind, command.requestedAt, at],
    );
    return rows.length === 1;
  }

  async finish(
    tx: DbTx,
    commandId: string,
    result: { outcome: 'done' | 'refused'; requeued: number; reason: string | null },
  ): Promise<void> {
    await tx.query(
      'UPDATE webhook_commands SET outcome = $2, requeued = $3, reason = $4 WHERE command_id = $1',
      [commandId, result.outcome, result.requeued, result.reason],
    );
  }

  /** The outcome of one of the controller's commands; undefined while it is not carried out yet. */
  async outcome(controllerId: string, commandId: string): Promise<CommandOutcome | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      'SELECT * FROM webhook_commands WHERE command_id = $1 AND controller_id = $2',
      [commandId, controllerId],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      commandId: r.command_id as string,
      kind: r.kind as CommandOutcome['kind'],
      outcome: r.outcome as CommandOutcome['outcome'],
      requeued: Number(r.requeued),
      reason: (r.reason as string | null) ?? null,
      requestedAt: new Date(r.requested_at as string).toISOString(),
      finishedAt: new Date(r.finished_at as string).toISOString(),
    };
  }
}

import type {
  ControllerState,
  CurrentInstruction,
  EndpointState,
  Cell as Region,
} from '@massivesms/contracts';
import type { DbTx } from '@massivesms/db';
import {
  type ControllerId,
  type ControllerKeyStore,
  type StoredControllerKeys,
  toWrappedKey,
  type WrappedControllerKeys,
} from '@massivesms/privacy';

// All SQL of the control service. Each function takes the transaction (or Db) it runs in, so a use
// case decides what is atomic.

type Q = Pick<DbTx, 'query'>;

export interface ControllerRow {
  readonly id: string;
  readonly name: string;
  readonly region: Region;
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface InstructionRow {
  readonly controllerId: string;
  readonly version: number;
  readonly document: Record<string, unknown>;
  readonly sha256: string;
  readonly publishedAt: string;
  readonly publishedBy: string;
}

export interface EndpointRow {
  readonly id: string;
  readonly controllerId: string;
  readonly url: string;
  readonly eventTypes: string[];
  readonly enabled: boolean;
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A signing secret as the API shows it: which one, since when, until when (null: no end yet). */
export interface SecretInfo {
  readonly secretId: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
}

export interface SecretRow {
  readonly secretId: string;
  readonly ciphertext: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
}

const iso = (value: unknown) => new Date(value as string | Date).toISOString();

function controllerRow(r: Record<string, unknown>): ControllerRow {
  return {
    id: r.id as string,
    name: r.name as string,
    region: r.region as Region,
    revision: Number(r.revision),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function instructionRow(r: Record<string, unknown>): InstructionRow {
  return {
    controllerId: r.controller_id as string,
    version: Number(r.version),
    document: r.document as Record<string, unknown>,
    sha256: r.sha256 as string,
    publishedAt: iso(r.published_at),
    publishedBy: r.published_by as string,
  };
}

function endpointRow(r: Record<string, unknown>): EndpointRow {
  return {
    id: r.id as string,
    controllerId: r.controller_id as string,
    url: r.url as string,
    eventTypes: r.event_types as string[],
    enabled: r.enabled as boolean,
    revision: Number(r.revision),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

export const controllers = {
  async insert(q: Q, c: { id: string; name: string; region: Region; now: Date }): Promise<boolean> {
    const { rowCount } = await q.query(
      `INSERT INTO control_controllers (id, name, region, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING`,
      [c.id, c.name, c.region, c.now],
    );
    return rowCount === 1;
  },
  async get(q: Q, id: string, forUpdate = false): Promise<ControllerRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_controllers WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return rows[0] ? controllerRow(rows[0]) : undefined;
  },
  async list(q: Q): Promise<ControllerRow[]> {
    const { rows } = await q.query<Record<string, unknown>>('SELECT * FROM control_controllers ORDER BY id');
    return rows.map(controllerRow);
  },
  async touch(q: Q, id: string, changes: { name?: string }, now: Date): Promise<ControllerRow> {
    const { rows } = await q.query<Record<string, unknown>>(
      `UPDATE control_controllers SET name = COALESCE($2, name), revision = revision + 1, updated_at = $3
       WHERE id = $1 RETURNING *`,
      [id, changes.name ?? null, now],
    );
    return controllerRow(rows[0]!);
  },
};

export const instructions = {
  async insert(q: Q, i: InstructionRow): Promise<void> {
    await q.query(
      `INSERT INTO control_instructions (controller_id, version, document, sha256, published_at, published_by)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [i.controllerId, i.version, JSON.stringify(i.document), i.sha256, i.publishedAt, i.publishedBy],
    );
  },
  async current(q: Q, controllerId: string): Promise<InstructionRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_instructions WHERE controller_id = $1 ORDER BY version DESC LIMIT 1',
      [controllerId],
    );
    return rows[0] ? instructionRow(rows[0]) : undefined;
  },
  async get(q: Q, controllerId: string, version: number): Promise<InstructionRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_instructions WHERE controller_id = $1 AND version = $2',
      [controllerId, version],
    );
    return rows[0] ? instructionRow(rows[0]) : undefined;
  },
  async list(q: Q, controllerId: string): Promise<InstructionRow[]> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_instructions WHERE controller_id = $1 ORDER BY version',
      [controllerId],
    );
    return rows.map(instructionRow);
  },
};

export const endpoints = {
  async insert(q: Q, e: Omit<EndpointRow, 'revision' | 'updatedAt'>): Promise<void> {
    await q.query(
      `INSERT INTO control_endpoints (id, controller_id, url, event_types, enabled, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6)`,
      [e.id, e.controllerId, e.url, e.eventTypes, e.enabled, e.createdAt],
    );
  },
  async get(q: Q, controllerId: string, id: string, forUpdate = false): Promise<EndpointRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_endpoints WHERE controller_id = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
      [controllerId, id],
    );
    return rows[0] ? endpointRow(rows[0]) : undefined;
  },
  async list(q: Q, controllerId: string): Promise<EndpointRow[]> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_endpoints WHERE controller_id = $1 ORDER BY created_at, id',
      [controllerId],
    );
    return rows.map(endpointRow);
  },
  async all(q: Q): Promise<EndpointRow[]> {
    const { rows } = await q.query<Record<string, unknown>>('SELECT * FROM control_endpoints ORDER BY id');
    return rows.map(endpointRow);
  },
  async update(
    q: Q,
    id: string,
    changes: { url?: string; eventTypes?: string[]; enabled?: boolean },
    now: Date,
  ): Promise<EndpointRow> {
    const { rows } = await q.query<Record<string, unknown>>(
      `UPDATE control_endpoints SET url = COALESCE($2, url), event_types = COALESCE($3, event_types),
         enabled = COALESCE($4, enabled), revision = revision + 1, updated_at = $5
       WHERE id = $1 RETURNING *`,
      [id, changes.url ?? null, changes.eventTypes ?? null, changes.enabled ?? null, now],
    );
    return endpointRow(rows[0]!);
  },
  async delete(q: Q, id: string): Promise<void> {
    await q.query('DELETE FROM control_endpoints WHERE id = $1', [id]);
  },
};

export const secrets = {
  async insert(q: Q, endpointId: string, s: SecretRow): Promise<void> {
    await q.query(
      `INSERT INTO control_endpoint_secrets (endpoint_id, secret_id, ciphertext, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [endpointId, s.secretId, s.ciphertext, s.createdAt, s.expiresAt],
    );
  },
  /** Secrets still valid at `now`, newest first; expired ones are deleted on the way. */
  async valid(q: Q, endpointId: string, now: Date): Promise<SecretRow[]> {
    await q.query('DELETE FROM control_endpoint_secrets WHERE endpoint_id = $1 AND expires_at <= $2', [
      endpointId,
      now,
    ]);
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT * FROM control_endpoint_secrets WHERE endpoint_id = $1 ORDER BY created_at DESC, secret_id`,
      [endpointId],
    );
    return rows.map((r) => ({
      secretId: r.secret_id as string,
      ciphertext: r.ciphertext as string,
      createdAt: iso(r.created_at),
      expiresAt: r.expires_at === null ? null : iso(r.expires_at),
    }));
  },
  /**
   * What the API shows of the secrets still valid at `now` (id and dates, never the ciphertext), per
   * endpoint, newest first. Read only: expired rows are left for `valid` to delete inside a write.
   */
  async shown(q: Q, endpointIds: readonly string[], now: Date): Promise<Map<string, SecretInfo[]>> {
    const { rows } = await q.query<Record<string, unknown>>(
      `SELECT endpoint_id, secret_id, created_at, expires_at FROM control_endpoint_secrets
       WHERE endpoint_id = ANY($1) AND (expires_at IS NULL OR expires_at > $2)
       ORDER BY created_at DESC, secret_id`,
      [endpointIds, now],
    );
    const shown = new Map<string, SecretInfo[]>(endpointIds.map((id) => [id, []]));
    for (const r of rows)
      shown.get(r.endpoint_id as string)?.push({
        secretId: r.secret_id as string,
        createdAt: iso(r.created_at),
        expiresAt: r.expires_at === null ? null : iso(r.expires_at),
      });
    return shown;
  },
  /** Starts the grace period of every current secret of the endpoint. */
  async expireCurrent(q: Q, endpointId: string, expiresAt: Date): Promise<void> {
    await q.query(
      `UPDATE control_endpoint_secrets SET expires_at = $2
       WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)`,
      [endpointId, expiresAt],
    );
  },
};

export const tokens = {
  async upsertOperator(q: Q, id: string, sha256: string, now: Date): Promise<void> {
    await q.query(
      `INSERT INTO control_tokens (id, token_sha256, kind, created_at) VALUES ($1, $2, 'operator', $3)
       ON CONFLICT (id) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256, revoked_at = NULL`,
      [id, sha256, now],
    );
  },
  async insertController(q: Q, id: string, sha256: string, controllerId: string, now: Date): Promise<void> {
    await q.query(
      `INSERT INTO control_tokens (id, token_sha256, kind, controller_id, created_at)
       VALUES ($1, $2, 'controller', $3, $4)`,
      [id, sha256, controllerId, now],
    );
  },
  async find(
    q: Q,
    sha256: string,
  ): Promise<{ id: string; kind: 'operator' | 'controller'; controllerId: string | null } | undefined> {
    const { rows } = await q.query<{
      id: string;
      kind: 'operator' | 'controller';
      controller_id: string | null;
    }>('SELECT id, kind, controller_id FROM control_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL', [
      sha256,
    ]);
    const r = rows[0];
    return r ? { id: r.id, kind: r.kind, controllerId: r.controller_id } : undefined;
  },
};

/** The keyring's persistence port over control_controller_keys. */
export class PgControllerKeyStore implements ControllerKeyStore {
  readonly #db: DbTx;
  /** Over a pool, or over a transaction (reads inside it see its writes). */
  constructor(db: DbTx) {
    this.#db = db;
  }

  async get(controllerId: ControllerId): Promise<StoredControllerKeys | undefined> {
    const { rows } = await this.#db.query<Record<string, unknown>>(
      'SELECT * FROM control_controller_keys WHERE controller_id = $1',
      [controllerId],
    );
    const r = rows[0];
    if (!r) return undefined;
    if (r.destroyed_at) return { status: 'destroyed', destroyedAt: new Date(r.destroyed_at as string) };
    return {
      status: 'active',
      keys: {
        dataKey: toWrappedKey(r.data_key_wrapped as string),
        pseudonymKey: toWrappedKey(r.pseudonym_key_wrapped as string),
      },
    };
  }

  async insert(controllerId: ControllerId, keys: WrappedControllerKeys): Promise<boolean> {
    const { rowCount } = await this.#db.query(
      `INSERT INTO control_controller_keys (controller_id, data_key_wrapped, pseudonym_key_wrapped)
       VALUES ($1, $2, $3) ON CONFLICT (controller_id) DO NOTHING`,
      [controllerId, keys.dataKey, keys.pseudonymKey],
    );
    return rowCount === 1;
  }

  async destroy(controllerId: ControllerId, destroyedAt: Date): Promise<void> {
    await this.#db.query(
      `UPDATE control_controller_keys SET data_key_wrapped = NULL, pseudonym_key_wrapped = NULL,
         destroyed_at = COALESCE(destroyed_at, $2) WHERE controller_id = $1`,
      [controllerId, destroyedAt],
    );
  }
}

/** Assembles the published state of a controller from its rows. */
/** A resend or recover command given through the API (its outcome is the webhooks service's). */
export interface WebhookCommandRow {
  readonly commandId: string;
  readonly controllerId: string;
  readonly kind: 'resend' | 'recover';
  readonly target: string;
  readonly requestedBy: string;
  readonly requestedAt: string;
}

export const webhookCommands = {
  async insert(q: Q, row: WebhookCommandRow): Promise<void> {
    await q.query(
      `INSERT INTO control_webhook_commands (command_id, controller_id, kind, target, requested_by, requested_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [row.commandId, row.controllerId, row.kind, row.target, row.requestedBy, row.requestedAt],
    );
  },
  async get(q: Q, controllerId: string, commandId: string): Promise<WebhookCommandRow | undefined> {
    const { rows } = await q.query<Record<string, unknown>>(
      'SELECT * FROM control_webhook_commands WHERE command_id = $1 AND controller_id = $2',
      [commandId, controllerId],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      commandId: r.command_id as string,
      controllerId: r.controller_id as string,
      kind: r.kind as WebhookCommandRow['kind'],
      target: r.target as string,
      requestedBy: r.requested_by as string,
      requestedAt: new Date(r.requested_at as string).toISOString(),
    };
  },
};

export async function controllerState(
  q: Q,
  row: ControllerRow,
  keys: WrappedControllerKeys,
): Promise<ControllerState> {
  const current = await instructions.current(q, row.id);
  const instruction: CurrentInstruction | null = current
    ? {
        id: `${row.id}-sms`,
        version: current.version,
        sha256: current.sha256,
        ref: `${row.id}-sms@${current.version}#${current.sha256}`,
        publishedAt: current.publishedAt,
        document: current.document,
      }
    : null;
  const termination = await q.query<{ requested_at: Date }>(
    'SELECT requested_at FROM control_terminations WHERE controller_id = $1',
    [row.id],
  );
  const terminatedAt = termination.rows[0]?.requested_at;
  return {
    controllerId: row.id,
    name: row.name,
    region: row.region,
    revision: row.revision,
    keys: { dataKey: keys.dataKey, pseudonymKey: keys.pseudonymKey },
    instruction,
    ...(terminatedAt ? { terminatedAt: new Date(terminatedAt).toISOString() } : {}),
    updatedAt: row.updatedAt,
  };
}

/** Assembles the published state of an endpoint from its rows. */
export function endpointState(row: EndpointRow, valid: SecretRow[]): EndpointState {
  return {
    endpointId: row.id,
    controllerId: row.controllerId,
    url: row.url,
    eventTypes: row.eventTypes as EndpointState['eventTypes'],
    enabled: row.enabled,
    revision: row.revision,
    secrets: valid.map((s) => ({
      secretId: s.secretId,
      secret: s.ciphertext,
      createdAt: s.createdAt,
      expiresAt: s.expiresAt,
    })),
    updatedAt: row.updatedAt,
  };
}

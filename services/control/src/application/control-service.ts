import type { Cell, EndpointState, WebhookCommand } from '@massivesms/contracts';
import type { Db, DbTx } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import { encryptField, type Keyring, toControllerId } from '@massivesms/privacy';
import * as store from '../adapters/pg-store.ts';
import { ControlProblem } from '../domain/problems.ts';
import { generateToken, generateWebhookSecret, newId, tokenHash } from '../domain/tokens.ts';
import type { InstructionPolicy } from './instruction-policy.ts';
import type {
  AuditLedgerPort,
  AuditPeriod,
  Clock,
  ControlEvents,
  Principal,
  UrlGuard,
  WebhookDeliveriesPort,
} from './ports.ts';

export interface ControlServiceDeps {
  readonly db: Db;
  readonly cell: Cell;
  readonly keyring: Keyring;
  readonly events: ControlEvents;
  readonly guardUrl: UrlGuard;
  readonly instructions: InstructionPolicy;
  readonly clock: Clock;
  /** The webhooks service's deliveries (read only); without it the recovery use cases answer 503. */
  readonly webhookDeliveries?: WebhookDeliveriesPort | undefined;
  /** The audit service's ledger; without it the audit use cases answer 503. */
  readonly auditLedger?: AuditLedgerPort | undefined;
  /** The public subprocessor list (name, legal entity, purpose, regions with location and country). */
  readonly subprocessors?: () => readonly PublicSubprocessorView[];
}

export interface EndpointInput {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly enabled?: boolean;
}

/** Default rotation grace period: the old secret keeps verifying for a day. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 86_400;

/** How far back an endpoint's delivery list looks when the caller does not say. */
export const DEFAULT_DELIVERIES_WINDOW_MS = 24 * 3_600_000;

/**
 * The control plane's use cases. Each reads like its story: check who asks, then in one transaction
 * change the rows and store the new state and a processing event saying who changed what (the
 * outbox publishes them once it commits: a change is never left unannounced).
 */
export class ControlService {
  readonly #d: ControlServiceDeps;

  constructor(deps: ControlServiceDeps) {
    this.#d = deps;
  }

  /** Records the operator token from configuration (stored hashed; replaces an earlier one). */
  async bootstrapOperatorToken(token: string): Promise<void> {
    await store.tokens.upsertOperator(this.#d.db, 'op_bootstrap', tokenHash(token), this.#d.clock());
  }

  /** Resolves a bearer token to who it belongs to. */
  async authenticate(token: string): Promise<Principal | undefined> {
    const found = await store.tokens.find(this.#d.db, tokenHash(token));
    if (!found) return undefined;
    return found.kind === 'operator'
      ? { kind: 'operator', tokenId: found.id }
      : { kind: 'controller', tokenId: found.id, controllerId: found.controllerId! };
  }

  async createController(p: Principal, input: { id?: string; name: string; region: Cell }) {
    operatorOnly(p);
    if (input.region !== this.#d.cell) {
      throw new ControlProblem(
        'CONTROLLER_WRONG_CELL',
        `this is the ${this.#d.cell} cell; create ${input.region} controllers in the ${input.region} cell`,
      );
    }
    const id = input.id ?? newId('ctl');
    const now = this.#d.clock();
    const row = await this.#d.db.transaction(async (tx) => {
      if (!(await store.controllers.insert(tx, { id, name: input.name, region: input.region, now }))) {
        throw new ControlProblem('CONTROLLER_EXISTS');
      }
      return (await store.controllers.get(tx, id))!;
    });
    // Keys are created after the row: the key table references it. A crash in between leaves a
    // controller without keys, which `publish` repairs by creating them on the next change.
    await this.#d.keyring.create(toControllerId(id));
    await this.#commit(async (tx) => [
      ...(await this.#controllerRecords(tx, row)),
      this.#audit(p, id, 'controller.create'),
    ]);
    return row;
  }

  async getController(p: Principal, id: string) {
    return this.#controllerFor(p, id);
  }

  async listControllers(p: Principal) {
    operatorOnly(p);
    return store.controllers.list(this.#d.db);
  }

  async updateController(p: Principal, id: string, changes: { name?: string; region?: Cell }) {
    const current = await this.#controllerFor(p, id);
    if (changes.region !== undefined && changes.region !== current.region) {
      throw new ControlProblem(
        'CONTROLLER_REGION_IMMUTABLE',
        `controller ${id} is homed in ${current.region}; a home region never changes (DPA §7)`,
      );
    }
    let row: store.ControllerRow | undefined;
    await this.#commit(async (tx) => {
      row = await store.controllers.touch(tx, id, { name: changes.name }, this.#d.clock());
      return [...(await this.#controllerRecords(tx, row)), this.#audit(p, id, 'controller.update')];
    });
    return row!;
  }

  async issueControllerToken(p: Principal, controllerId: string) {
    operatorOnly(p);
    await this.#controllerFor(p, controllerId);
    const token = generateToken();
    const tokenId = newId('tok');
    await this.#commit(async (tx) => {
      await store.tokens.insertController(tx, tokenId, tokenHash(token), controllerId, this.#d.clock());
      return [this.#audit(p, controllerId, 'token.issue', `token ${tokenId}`)];
    });
    return { tokenId, token };
  }

  async publishInstruction(p: Principal, controllerId: string, document: unknown) {
    const controller = await this.#controllerFor(p, controllerId);
    const now = this.#d.clock();
    const verdict = this.#d.instructions.validate(document, controller.region, now);
    if (!verdict.ok) {
      await this.#commit(async () => [
        this.#audit(
          p,
          controllerId,
          'instruction.publish',
          verdict.problems.map((x) => x.code).join(','),
          'denied',
        ),
      ]);
      throw new ControlProblem('INSTRUCTION_REFUSED', 'the instruction was not published: see problems', {
        problems: verdict.problems,
      });
    }
    let row: store.InstructionRow | undefined;
    await this.#commit(async (tx) => {
      const locked = (await store.controllers.get(tx, controllerId, true))!;
      const previous = await store.instructions.current(tx, controllerId);
      const published: store.InstructionRow = {
        controllerId,
        version: (previous?.version ?? 0) + 1,
        document: verdict.document,
        sha256: verdict.sha256,
        publishedAt: now.toISOString(),
        publishedBy: p.tokenId,
      };
      await store.instructions.insert(tx, published);
      const touched = await store.controllers.touch(tx, locked.id, {}, now);
      row = published;
      return [
        ...(await this.#controllerRecords(tx, touched)),
        this.#audit(p, controllerId, 'instruction.publish', `version ${published.version}`),
      ];
    });
    return row!;
  }

  async listInstructions(p: Principal, controllerId: string) {
    await this.#controllerFor(p, controllerId);
    return store.instructions.list(this.#d.db, controllerId);
  }

  async getInstruction(p: Principal, controllerId: string, version: number | 'current') {
    await this.#controllerFor(p, controllerId);
    const row =
      version === 'current'
        ? await store.instructions.current(this.#d.db, controllerId)
        : await store.instructions.get(this.#d.db, controllerId, version);
    if (!row) throw new ControlProblem('NOT_FOUND', 'no such instruction version');
    return row;
  }

  async createEndpoint(p: Principal, controllerId: string, input: EndpointInput) {
    await this.#controllerFor(p, controllerId);
    await this.#d.guardUrl(input.url);
    const now = this.#d.clock();
    const id = newId('ep');
    const secret = generateWebhookSecret();
    const sealed = await this.#seal(controllerId, id, 'sec_1', secret);
    let endpoint: EndpointState | undefined;
    await this.#commit(async (tx) => {
      await store.endpoints.insert(tx, {
        id,
        controllerId,
        url: input.url,
        eventTypes: [...input.eventTypes],
        enabled: input.enabled ?? true,
        createdAt: now.toISOString(),
      });
      await store.secrets.insert(tx, id, sealed);
      endpoint = await this.#endpointState(tx, controllerId, id);
      return [
        this.#d.events.endpoint(id, endpoint),
        this.#audit(p, controllerId, 'endpoint.create', `endpoint ${id}`),
      ];
    });
    return { endpoint: endpoint!, secret };
  }

  /** The controller's endpoints, each with its valid secrets' ids and dates (never the secrets). */
  async listEndpoints(p: Principal, controllerId: string) {
    await this.#controllerFor(p, controllerId);
    const rows = await store.endpoints.list(this.#d.db, controllerId);
    const secrets = await store.secrets.shown(
      this.#d.db,
      rows.map((r) => r.id),
      this.#d.clock(),
    );
    return rows.map((row) => ({ ...row, secrets: secrets.get(row.id) ?? [] }));
  }

  /** One endpoint with its valid secrets' ids and dates: after a rotation, the new one and the old one. */
  async getEndpoint(p: Principal, controllerId: string, endpointId: string) {
    await this.#controllerFor(p, controllerId);
    const row = await this.#endpoint(controllerId, endpointId);
    const secrets = await store.secrets.shown(this.#d.db, [endpointId], this.#d.clock());
    return { ...row, secrets: secrets.get(endpointId) ?? [] };
  }

  async updateEndpoint(
    p: Principal,
    controllerId: string,
    endpointId: string,
    changes: { url?: string; eventTypes?: readonly string[]; enabled?: boolean },
  ) {
    await this.#controllerFor(p, controllerId);
    await this.#endpoint(controllerId, endpointId);
    if (changes.url !== undefined) await this.#d.guardUrl(changes.url);
    let endpoint: EndpointState | undefined;
    await this.#commit(async (tx) => {
      await store.endpoints.update(
        tx,
        endpointId,
        { ...changes, eventTypes: changes.eventTypes ? [...changes.eventTypes] : undefined },
        this.#d.clock(),
      );
      endpoint = await this.#endpointState(tx, controllerId, endpointId);
      return [
        this.#d.events.endpoint(endpointId, endpoint),
        this.#audit(p, controllerId, 'endpoint.update', `endpoint ${endpointId}`),
      ];
    });
    return endpoint!;
  }

  async deleteEndpoint(p: Principal, controllerId: string, endpointId: string) {
    await this.#controllerFor(p, controllerId);
    await this.#endpoint(controllerId, endpointId);
    await this.#commit(async (tx) => {
      await store.endpoints.delete(tx, endpointId);
      return [
        this.#d.events.endpoint(endpointId, null),
        this.#audit(p, controllerId, 'endpoint.delete', `endpoint ${endpointId}`),
      ];
    });
  }

  /** New secret now; the previous ones keep verifying for `graceSeconds` (0 ends them at once). */
  async rotateSecret(p: Principal, controllerId: string, endpointId: string, graceSeconds: number) {
    await this.#controllerFor(p, controllerId);
    const now = this.#d.clock();
    const secret = generateWebhookSecret();
    const secretId = newId('sec');
    const sealed = await this.#seal(controllerId, endpointId, secretId, secret);
    let endpoint: EndpointState | undefined;
    await this.#commit(async (tx) => {
      if (!(await store.endpoints.get(tx, controllerId, endpointId, true)))
        throw new ControlProblem('NOT_FOUND');
      await store.secrets.expireCurrent(tx, endpointId, new Date(now.getTime() + graceSeconds * 1000));
      await store.secrets.insert(tx, endpointId, {
        ...sealed,
        createdAt: new Date(now.getTime() + 1).toISOString(),
      });
      await store.endpoints.update(tx, endpointId, {}, now);
      endpoint = await this.#endpointState(tx, controllerId, endpointId);
      return [
        this.#d.events.endpoint(endpointId, endpoint),
        this.#audit(
          p,
          controllerId,
          'endpoint.rotate_secret',
          `endpoint ${endpointId}, grace ${graceSeconds} s`,
        ),
      ];
    });
    return { endpoint: endpoint!, secret, secretId };
  }

  async listMessageDeliveries(p: Principal, controllerId: string, messageId: string) {
    await this.#controllerFor(p, controllerId);
    return this.#deliveries().forMessage(controllerId, messageId);
  }

  /** An endpoint's deliveries since a time (default: the last 24 h), newest first. */
  async listEndpointDeliveries(
    p: Principal,
    controllerId: string,
    endpointId: string,
    query: { since?: Date | undefined; limit: number },
  ) {
    await this.#controllerFor(p, controllerId);
    const deliveries = this.#deliveries();
    await this.#endpoint(controllerId, endpointId);
    const since = query.since ?? new Date(this.#d.clock().getTime() - DEFAULT_DELIVERIES_WINDOW_MS);
    return deliveries.forEndpoint(controllerId, endpointId, since, query.limit);
  }

  /**
   * Asks the webhooks service to send one delivery again with a fresh schedule and the same
   * webhook-id. What can be judged now is refused now (unknown, still pending, endpoint disabled);
   * the command and the processing event recording who asked commit together, and the webhooks
   * service carries it out once. Poll `webhookCommand` for its outcome.
   */
  async resendDelivery(p: Principal, controllerId: string, webhookId: string) {
    await this.#controllerFor(p, controllerId);
    const deliveries = this.#deliveries();
    const delivery = await deliveries.delivery(controllerId, webhookId);
    if (!delivery) throw new ControlProblem('NOT_FOUND', 'no such webhook delivery');
    if (delivery.state === 'pending') throw new ControlProblem('WEBHOOK_DELIVERY_PENDING');
    const endpoint = await this.#deliverable(deliveries, controllerId, delivery.endpointId);
    return this.#command(p, controllerId, {
      kind: 'resend',
      endpointId: endpoint.id,
      endpointRevision: endpoint.revision,
      webhookId,
      target: webhookId,
      reason: `delivery ${webhookId}`,
    });
  }

  /**
   * Asks the webhooks service to send again every dead delivery of one of the controller's endpoints
   * created since `since` (and at once those waiting for a retry). Poll `webhookCommand` for how many.
   */
  async recoverEndpoint(p: Principal, controllerId: string, endpointId: string, since: Date) {
    await this.#controllerFor(p, controllerId);
    const deliveries = this.#deliveries();
    // The control plane owns endpoints: only one of this controller's may be recovered.
    await this.#endpoint(controllerId, endpointId);
    const endpoint = await this.#deliverable(deliveries, controllerId, endpointId);
    return this.#command(p, controllerId, {
      kind: 'recover',
      endpointId,
      endpointRevision: endpoint.revision,
      since: since.toISOString(),
      target: endpointId,
      reason: `endpoint ${endpointId}, since ${since.toISOString()}`,
    });
  }

  /** A command of the controller's and what became of it (`queued` until the webhooks service says). */
  async webhookCommand(p: Principal, controllerId: string, commandId: string) {
    await this.#controllerFor(p, controllerId);
    const deliveries = this.#deliveries();
    const row = await store.webhookCommands.get(this.#d.db, controllerId, commandId);
    if (!row) throw new ControlProblem('NOT_FOUND', 'no such command');
    const outcome = await deliveries.commandOutcome(controllerId, commandId);
    return {
      commandId,
      kind: row.kind,
      target: row.target,
      status: outcome?.outcome ?? ('queued' as const),
      requeued: outcome ? outcome.requeued : null,
      reason: outcome?.reason ?? null,
      requestedAt: row.requestedAt,
      finishedAt: outcome?.finishedAt ?? null,
    };
  }

  /** Stores the command with the record carrying it and the processing event naming who asked. */
  async #command(
    p: Principal,
    controllerId: string,
    c: { endpointId: string; endpointRevision: number; target: string; reason: string } & (
      | { kind: 'resend'; webhookId: string }
      | { kind: 'recover'; since: string }
    ),
  ) {
    const commandId = newId('cmd');
    const requestedAt = this.#d.clock().toISOString();
    const base = {
      commandId,
      controllerId,
      region: this.#d.cell,
      requestedBy: p.tokenId,
      requestedAt,
      endpointId: c.endpointId,
      endpointRevision: c.endpointRevision,
    };
    const command: WebhookCommand =
      c.kind === 'resend'
        ? { kind: 'resend', ...base, webhookId: c.webhookId }
        : { kind: 'recover', ...base, since: c.since };
    await this.#commit(async (tx) => {
      await store.webhookCommands.insert(tx, {
        commandId,
        controllerId,
        kind: c.kind,
        target: c.target,
        requestedBy: p.tokenId,
        requestedAt,
      });
      return [
        this.#d.events.webhookCommand(command),
        this.#audit(p, controllerId, `webhook.${c.kind}`, `${c.reason}, command ${commandId}`),
      ];
    });
    return { commandId, status: 'queued' as const };
  }

  /**
   * Refuses to queue deliveries the webhooks service would only dead-letter again: to a deleted or
   * disabled endpoint, or one it disabled itself (410 Gone, continuous failure) that nobody changed since.
   */
  async #deliverable(deliveries: WebhookDeliveriesPort, controllerId: string, endpointId: string) {
    const endpoint = await store.endpoints.get(this.#d.db, controllerId, endpointId);
    const refuse = (reason: string, detail: string): never => {
      throw new ControlProblem('WEBHOOK_ENDPOINT_DISABLED', detail, { endpointId, reason });
    };
    if (!endpoint) return refuse('deleted', `endpoint ${endpointId} was deleted`);
    if (!endpoint.enabled)
      return refuse('disabled', `endpoint ${endpointId} is disabled: enable it first (PATCH enabled: true)`);
    const disabled = await deliveries.disabledReason(endpointId, endpoint.revision);
    if (disabled)
      refuse(
        disabled,
        `endpoint ${endpointId} was disabled by the webhooks service (${disabled === 'gone' ? 'it answered 410 Gone' : 'continuous failure'}): update or re-enable it first (any PATCH)`,
      );
    return endpoint;
  }

  /**
   * Publishes the state of everything again (at start-up: a controller created just before a crash
   * may have had its keys made but not its state announced; republishing the rest changes nothing).
   */
  async republishAll(): Promise<void> {
    await this.#commit(async (tx) => {
      const records: OutgoingRecord[] = [];
      for (const row of await store.controllers.list(tx))
        records.push(...(await this.#controllerRecords(tx, row)));
      for (const row of await store.endpoints.all(tx))
        records.push(
          this.#d.events.endpoint(row.id, await this.#endpointState(tx, row.controllerId, row.id)),
        );
      return records;
    });
  }

  /** Runs `change` in one transaction together with storing the events it returns. */
  async #commit(change: (tx: DbTx) => Promise<readonly OutgoingRecord[]>): Promise<void> {
    await this.#d.db.transaction(async (tx) => {
      await this.#d.events.announce(tx, await change(tx));
    });
    this.#d.events.committed();
  }

  /**
   * The controller's audit export for a period (DPA §10): the bundle's bytes, to hand over as they
   * are. The export is itself recorded as an operation (`audit.export`).
   */
  async auditExport(p: Principal, controllerId: string, period: AuditPeriod): Promise<Uint8Array> {
    await this.#controllerFor(p, controllerId);
    checkPeriod(period);
    const result = await this.#ledger().exportBundle(controllerId, period);
    if (result.kind === 'not_checkpointed') throw new ControlProblem('AUDIT_NOT_CHECKPOINTED');
    if (result.kind === 'too_large')
      throw new ControlProblem(
        'AUDIT_EXPORT_TOO_LARGE',
        `${result.entries} entries in the period; at most ${result.max} per export`,
      );
    await this.#d.db.transaction((tx) =>
      this.#d.events.announce(tx, [
        this.#audit(
          p,
          controllerId,
          'audit.export',
          `${period.from.toISOString()}/${period.to.toISOString()}, ${result.manifest.entries} entries`,
        ),
      ]),
    );
    this.#d.events.committed();
    return result.bytes;
  }

  /**
   * The record of processing activities carried out on the controller's behalf (GDPR Art. 30(2)),
   * for a period: generated from the ledger and the subprocessor registry.
   */
  async processingRecord(p: Principal, controllerId: string, period: AuditPeriod) {
    const controller = await this.#controllerFor(p, controllerId);
    checkPeriod(period);
    const summary = await this.#ledger().processingSummary(controllerId, period);
    const registry = new Map((this.#d.subprocessors?.() ?? []).map((s) => [s.name, s]));
    const used = summary.subprocessors.map((use) => {
      const entry = registry.get(use.subprocessor);
      const location = entry?.regions.find((r) => r.region === use.region);
      return {
        name: use.subprocessor,
        legalEntity: entry?.legalEntity ?? null,
        purpose: entry?.purpose ?? null,
        region: use.region,
        location: location?.location ?? null,
        country: location?.country ?? null,
        transferMechanism: use.transferMechanism,
        operations: use.count,
      };
    });
    return {
      controller: { id: controller.id, name: controller.name, region: controller.region },
      processor: { name: 'MassiveSMS', role: 'processor' as const },
      period: { from: period.from.toISOString(), to: period.to.toISOString() },
      source: {
        ledger: summary.origin,
        entries: summary.entries,
        firstSeq: summary.firstSeq,
        lastSeq: summary.lastSeq,
      },
      categoriesOfProcessing: summary.operations.map((o) => ({
        ...o,
        dataCategories: [...o.dataCategories],
        purposes: [...o.purposes],
      })),
      subprocessors: used,
      transfers: used.filter((u) => u.transferMechanism !== null),
      securityMeasures: [...SECURITY_MEASURES],
    };
  }

  /** The audit ledger's published verifier key (public: anyone may check a checkpoint or an export). */
  async auditVerifierKey(): Promise<{ origin: string; verifierKey: string }> {
    const { origin, verifierKey } = await this.#ledger().verifierKey();
    return { origin, verifierKey };
  }

  #ledger(): AuditLedgerPort {
    if (!this.#d.auditLedger) {
      throw new ControlProblem(
        'AUDIT_LEDGER_UNAVAILABLE',
        'this control plane was started without the audit service (AUDIT_INTERNAL_URL)',
      );
    }
    return this.#d.auditLedger;
  }

  /** A controller the principal may see; another controller's id answers 404, never 403. */
  async #controllerFor(p: Principal, id: string) {
    if (p.kind === 'controller' && p.controllerId !== id) throw new ControlProblem('NOT_FOUND');
    const row = await store.controllers.get(this.#d.db, id);
    if (!row) throw new ControlProblem('NOT_FOUND');
    return row;
  }

  #deliveries(): WebhookDeliveriesPort {
    if (!this.#d.webhookDeliveries) {
      throw new ControlProblem(
        'WEBHOOK_RECOVERY_UNAVAILABLE',
        'this control plane was started without the webhooks service (WEBHOOKS_INTERNAL_URL)',
      );
    }
    return this.#d.webhookDeliveries;
  }

  async #endpoint(controllerId: string, endpointId: string) {
    const row = await store.endpoints.get(this.#d.db, controllerId, endpointId);
    if (!row) throw new ControlProblem('NOT_FOUND');
    return row;
  }

  async #seal(
    controllerId: string,
    endpointId: string,
    secretId: string,
    secret: string,
  ): Promise<store.SecretRow> {
    const keys = await this.#d.keyring.get(toControllerId(controllerId));
    const ciphertext = encryptField(keys.dataKey, secret, {
      controllerId: toControllerId(controllerId),
      recordId: endpointId,
      field: `secret:${secretId}`,
    });
    return { secretId, ciphertext, createdAt: this.#d.clock().toISOString(), expiresAt: null };
  }

  /** The controller's state record; none once its keys are shredded (nothing personal can be processed). */
  async #controllerRecords(tx: DbTx, row: store.ControllerRow): Promise<OutgoingRecord[]> {
    const controllerId = toControllerId(row.id);
    let stored = await new store.PgControllerKeyStore(tx).get(controllerId);
    if (!stored) {
      // Keys are made outside the transaction; a controller that lost them in a crash gets them now.
      await this.#d.keyring.create(controllerId);
      stored = await new store.PgControllerKeyStore(tx).get(controllerId);
    }
    if (stored?.status !== 'active') return [];
    return [this.#d.events.controller(await store.controllerState(tx, row, stored.keys))];
  }

  async #endpointState(tx: DbTx, controllerId: string, endpointId: string) {
    const row = await store.endpoints.get(tx, controllerId, endpointId);
    if (!row) throw new ControlProblem('NOT_FOUND');
    const valid = await store.secrets.valid(tx, endpointId, this.#d.clock());
    return store.endpointState(row, valid);
  }

  #audit(
    p: Principal,
    controllerId: string,
    operation: string,
    reason?: string,
    outcome: 'performed' | 'denied' = 'performed',
  ): OutgoingRecord {
    return this.#d.events.processing({
      operation,
      controllerId,
      actor: p.tokenId,
      dataCategories: ['system.operations'],
      outcome,
      ...(reason ? { reason } : {}),
    });
  }
}

/** A subprocessor as the public list shows it (what the processing record needs of it). */
export interface PublicSubprocessorView {
  readonly name: string;
  readonly legalEntity: string;
  readonly purpose: string;
  readonly regions: readonly {
    readonly region: string;
    readonly location: string;
    readonly country: string;
  }[];
}

/** The technical and organisational measures of DPA §5, as the processing record states them. */
export const SECURITY_MEASURES: readonly string[] = [
  'TLS 1.3 on every HTTP surface MassiveSMS serves',
  'Personal fields encrypted at rest with AES-256-GCM under per-controller data keys wrapped by a KMS master key, bound to controller, record and field',
  'Keyed pseudonyms (HMAC-SHA256, per controller) instead of phone numbers in logs, traces, metrics, Kafka keys and audit events',
  'Control-API tokens scoped to one controller; operator tokens separate; each service holds only the keys it needs',
  'Carrier receipts verified (Telnyx Ed25519, Twilio HMAC-SHA1), deduplicated and applied monotonically',
  'Webhooks signed (Standard Webhooks) and delivered only to public addresses',
  'Every operation on personal data recorded in an append-only, hash-chained ledger with signed checkpoints (RFC 6962 / C2SP), verifiable offline',
  "Data kept per the controller's instruction retention; per-region processing (EU data stays in the EU unless a transfer mechanism is named)",
];

function checkPeriod(period: AuditPeriod): void {
  if (!(period.from.getTime() < period.to.getTime())) throw new ControlProblem('AUDIT_PERIOD_INVALID');
}

function operatorOnly(p: Principal): void {
  if (p.kind !== 'operator') throw new ControlProblem('OPERATOR_ONLY');
}

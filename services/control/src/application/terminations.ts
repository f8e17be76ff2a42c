import { createHash } from 'node:crypto';
import {
  type Cell,
  encodeJson,
  type PrivacyAck,
  type PrivacyService,
  privacyRequestSchema,
  privacySubjectContext,
  type TerminationRequest,
  topicFor,
} from '@massivesms/contracts';
import type { Db, DbTx } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import { canonicalJson, decryptField, type Keyring, toControllerId } from '@massivesms/privacy';
import * as controlStore from '../adapters/pg-store.ts';
import { subjectRequests } from '../adapters/pg-subject-requests.ts';
import {
  terminations as store,
  type TerminationAckRow,
  type TerminationRow,
} from '../adapters/pg-terminations.ts';
import { ControlProblem } from '../domain/problems.ts';
import { newId } from '../domain/tokens.ts';
import type { AuditLedgerPort, Clock, ControlEvents, Principal } from './ports.ts';

export interface TerminationDeps {
  readonly db: Db;
  readonly cell: Cell;
  readonly namespace: string;
  readonly keyring: Keyring;
  readonly events: ControlEvents;
  readonly clock: Clock;
  /** Days between the termination and the deletion (CONTROL_TERMINATION_GRACE_DAYS; DPA §11: at most 30). */
  readonly graceDays: number;
  /** Services that must acknowledge the deletion (CONTROL_DSR_SERVICES). */
  readonly expected: readonly PrivacyService[];
  /** The ledger: the return bundle's audit export, the checkpoint a certificate names. */
  readonly auditLedger: AuditLedgerPort | undefined;
  /** Resolves to the controller when the principal may act for it; throws NOT_FOUND otherwise. */
  readonly controllerFor: (p: Principal, controllerId: string) => Promise<controlStore.ControllerRow>;
}

/** What a termination looks like through the API. */
export interface TerminationView {
  readonly controllerId: string;
  readonly status: TerminationRow['status'];
  readonly requestedAt: string;
  readonly deleteAfter: string;
  readonly deletionStartedAt: string | null;
  readonly completedAt: string | null;
  readonly expected: string[];
  readonly acknowledged: {
    readonly service: string;
    readonly outcome: 'done' | 'failed';
    readonly erased: Record<string, number> | null;
    readonly retained: string[] | null;
    readonly reason: string | null;
    readonly receivedAt: string;
  }[];
  /** Where the return bundle is downloaded (until the data is deleted). */
  readonly returnBundle: string | null;
  /** Where the deletion certificate is downloaded (once completed), and its SHA-256. */
  readonly certificate: { readonly href: string; readonly sha256: string } | null;
}

/** The ledger's state when the data was deleted: every event before the deletion is under this root. */
export interface LedgerCheckpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly signedAt: string;
}

/** What survives a termination, and why (DPA §11 allows both). */
export const TERMINATION_RETAINED = [
  'Opt-outs, restrictions and objections, by keyed pseudonym only (router, dispatcher, suppressions topic), and the pseudonym key that matches a number to them: a subject who opted out can still be shown to have been respected',
  'The audit ledger (pseudonymous processing events with its signed checkpoints): the record of what was done, including this deletion',
  'Control-plane records that name nobody: the controller, its instruction versions, hashed API tokens, which data-subject requests were made and how they were answered',
];

const DUE_BATCH = 20;

/**
 * Termination of a controller's service (DPA §11). Filing it stops new messages at once (the
 * controller's state says so) and opens the grace period, in which the controller downloads its return
 * bundle. When the grace ends, `runDue` sends every service the deletion command; once all have
 * answered, control deletes its own copies, destroys the data key, tombstones the controller and its
 * endpoints on the compacted topics, and stores the deletion certificate; the ledger records its hash.
 */
export class Terminations {
  readonly #d: TerminationDeps;

  constructor(deps: TerminationDeps) {
    this.#d = deps;
  }

  /** Files the termination (once; filing again answers the same one, or restarts a failed deletion). */
  async request(p: Principal, controllerId: string): Promise<TerminationView> {
    await this.#d.controllerFor(p, controllerId);
    const now = this.#d.clock();
    const deleteAfter = new Date(now.getTime() + this.#d.graceDays * 86_400_000);
    await this.#commit(async (tx) => {
      const existing = await store.get(tx, controllerId, true);
      if (existing?.status === 'failed') return this.#startDeletion(tx, existing, now);
      if (existing) return [];
      // A concurrent first request inserted it already: that one announces it.
      const inserted = await store.insert(tx, {
        controllerId,
        requestId: newId('trm'),
        requestedBy: p.tokenId,
        requestedAt: now.toISOString(),
        deleteAfter: deleteAfter.toISOString(),
        expected: [...this.#d.expected],
      });
      if (!inserted) return [];
      // The controller's state now says it is terminated (a new revision): the router accepts no new message.
      const touched = await controlStore.controllers.touch(tx, controllerId, {}, now);
      const published = await this.#controllerState(tx, touched);
      return [
        ...published,
        this.#d.events.processing({
          operation: 'termination.request',
          controllerId,
          actor: p.tokenId,
          dataCategories: ['system.operations'],
          outcome: 'performed',
          reason: `deletion after ${deleteAfter.toISOString()} (grace ${this.#d.graceDays} days)`,
        }),
      ];
    });
    return this.get(p, controllerId);
  }

  async get(p: Principal, controllerId: string): Promise<TerminationView> {
    await this.#d.controllerFor(p, controllerId);
    const row = await store.get(this.#d.db, controllerId);
    if (!row) throw new ControlProblem('NOT_FOUND', 'the controller has no termination');
    const acks = await store.acks(this.#d.db, row.requestId);
    const base = `/v1/controllers/${encodeURIComponent(controllerId)}/termination`;
    return {
      controllerId,
      status: row.status,
      requestedAt: row.requestedAt,
      deleteAfter: row.deleteAfter,
      deletionStartedAt: row.deletionStartedAt,
      completedAt: row.completedAt,
      expected: [...row.expected],
      acknowledged: acks.map((a) => ({ ...a, retained: a.retained ? [...a.retained] : null })),
      returnBundle: row.status === 'completed' ? null : `${base}/return-bundle`,
      certificate:
        row.certificateSha256 === null
          ? null
          : { href: `${base}/deletion-certificate`, sha256: row.certificateSha256 },
    };
  }

  /**
   * The return bundle (DPA §11 "return"): what control holds about the controller, decrypted, and the
   * audit export of its whole history, which records every message's processing. Gone with the data.
   */
  async returnBundle(p: Principal, controllerId: string): Promise<Record<string, unknown>> {
    const controller = await this.#d.controllerFor(p, controllerId);
    const row = await store.get(this.#d.db, controllerId);
    if (!row) throw new ControlProblem('NOT_FOUND', 'the controller has no termination');
    if (row.status === 'completed') throw new ControlProblem('TERMINATION_DATA_DELETED');
    const ledger = this.#ledger();
    const now = this.#d.clock();
    const exported = await ledger.exportBundle(controllerId, {
      from: new Date(controller.createdAt),
      to: now,
    });
    if (exported.kind === 'not_checkpointed') throw new ControlProblem('AUDIT_NOT_CHECKPOINTED');
    if (exported.kind === 'too_large')
      throw new ControlProblem(
        'AUDIT_EXPORT_TOO_LARGE',
        `${exported.entries} entries; ask for audit exports by period instead (GET /v1/controllers/{id}/audit-export)`,
      );
    const db = this.#d.db;
    const requests = await subjectRequests.ofController(db, controllerId);
    const keys = await this.#d.keyring.get(toControllerId(controllerId));
    const bundle = {
      format: 'massivesms-return-bundle/1',
      generatedAt: now.toISOString(),
      controller: {
        id: controller.id,
        name: controller.name,
        region: controller.region,
        createdAt: controller.createdAt,
      },
      termination: { requestedAt: row.requestedAt, deleteAfter: row.deleteAfter },
      instructions: (await controlStore.instructions.list(db, controllerId)).map((i) => ({
        version: i.version,
        sha256: i.sha256,
        publishedAt: i.publishedAt,
        document: i.document,
      })),
      endpoints: (await controlStore.endpoints.list(db, controllerId)).map((e) => ({
        id: e.id,
        url: e.url,
        eventTypes: e.eventTypes,
        enabled: e.enabled,
        createdAt: e.createdAt,
      })),
      subjectRequests: requests.map((r) => ({
        id: r.id,
        type: r.type,
        status: r.status,
        // Null once an erasure of the subject removed it.
        phoneNumber:
          r.subject === null
            ? null
            : decryptField(keys.dataKey, r.subject, {
                ...privacySubjectContext(controllerId, r.id),
                controllerId: toControllerId(controllerId),
              }),
        requestedAt: r.requestedAt,
        completedAt: r.completedAt,
      })),
      // The ledger's bytes as it made them: verifiable offline as any audit export.
      auditExport: JSON.parse(Buffer.from(exported.bytes).toString('utf8')) as unknown,
    };
    await this.#commit(async () => [
      this.#d.events.processing({
        operation: 'termination.return',
        controllerId,
        actor: p.tokenId,
        dataCategories: ['system.operations'],
        outcome: 'performed',
        reason: `return bundle with ${exported.manifest.entries} audit entries`,
      }),
    ]);
    return bundle;
  }

  /** The deletion certificate, once the deletion completed (its SHA-256 is in the audit ledger). */
  async certificate(p: Principal, controllerId: string): Promise<Record<string, unknown>> {
    await this.#d.controllerFor(p, controllerId);
    const row = await store.get(this.#d.db, controllerId);
    if (!row?.certificate) throw new ControlProblem('NOT_FOUND', 'no deletion certificate yet');
    return row.certificate;
  }

  /** Starts the deletion of every termination whose grace period ended; answers how many started. */
  async runDue(): Promise<number> {
    let started = 0;
    for (;;) {
      const now = this.#d.clock();
      const count = await this.#commitCounting(async (tx) => {
        const due = await store.due(tx, now, DUE_BATCH);
        const records: OutgoingRecord[] = [];
        for (const row of due) records.push(...(await this.#startDeletion(tx, row, now)));
        return { count: due.length, records };
      });
      started += count;
      if (count < DUE_BATCH) return started;
    }
  }

  /** Records the services' answers to deletion commands; the last one completes the termination. */
  async applyAcks(acks: readonly PrivacyAck[]): Promise<void> {
    for (const ack of acks) {
      if (ack.type !== 'termination' || ack.region !== this.#d.cell) continue;
      const row = await store.byRequest(this.#d.db, ack.requestId);
      if (!row) continue;
      // Asked before the transaction: a slow audit service must not hold row locks. One that does not
      // answer fails the batch, which is retried: a certificate never goes without its checkpoint.
      const checkpoint = await this.#checkpoint();
      let completed = false;
      await this.#commit(async (tx) => {
        if (!(await store.addAck(tx, ack, this.#d.clock()))) return [];
        const current = await store.byRequest(tx, ack.requestId, true);
        if (current?.status !== 'deleting') return [];
        const all = await store.acks(tx, current.requestId);
        if (!current.expected.every((s) => all.some((a) => a.service === s))) return [];
        completed = true;
        return this.#complete(tx, current, all, checkpoint);
      });
      // The copy of the keys this process still caches goes too (a no-op after a failed deletion:
      // the keys are loaded again when next needed).
      if (completed) await this.#d.keyring.forget(toControllerId(ack.controllerId));
    }
  }

  async #startDeletion(tx: DbTx, row: TerminationRow, now: Date): Promise<OutgoingRecord[]> {
    const requestId = newId('trm');
    await store.startDeletion(tx, row.controllerId, requestId, this.#d.expected, now);
    const command: TerminationRequest = {
      requestId,
      controllerId: row.controllerId,
      region: this.#d.cell,
      type: 'termination',
      requestedAt: now.toISOString(),
    };
    return [
      {
        topic: topicFor(this.#d.cell, 'privacy.requests.v1', this.#d.namespace),
        key: row.controllerId,
        value: encodeJson(privacyRequestSchema, command),
        headers: { region: this.#d.cell, controller: row.controllerId, schema: 'privacy.requests.v1' },
      },
      this.#d.events.processing({
        operation: 'termination.delete.start',
        controllerId: row.controllerId,
        dataCategories: ['user.contact.phone_number', 'user.content.private'],
        outcome: 'performed',
        reason: `grace period ended ${row.deleteAfter}; deletion ${requestId} sent to ${this.#d.expected.join(', ')}`,
      }),
    ];
  }

  async #complete(
    tx: DbTx,
    row: TerminationRow,
    acks: readonly TerminationAckRow[],
    checkpoint: LedgerCheckpoint | null,
  ): Promise<OutgoingRecord[]> {
    const now = this.#d.clock();
    const failed = acks.filter((a) => a.outcome === 'failed');
    if (failed.length > 0) {
      await store.finish(tx, row.controllerId, 'failed', now, null);
      return [
        this.#d.events.processing({
          operation: 'termination.delete.failed',
          controllerId: row.controllerId,
          dataCategories: ['user.contact.phone_number', 'user.content.private'],
          outcome: 'failed',
          reason: `deletion ${row.requestId} failed at ${failed.map((a) => a.service).join(', ')}; file the termination again to retry`,
        }),
      ];
    }
    const endpointIds = (await controlStore.endpoints.list(tx, row.controllerId)).map((e) => e.id);
    const controlErased = await store.eraseController(tx, row.controllerId, now);
    await store.destroyDataKey(tx, row.controllerId, now);
    const certificate = {
      format: 'massivesms-deletion-certificate/1',
      processor: 'MassiveSMS',
      controllerId: row.controllerId,
      region: this.#d.cell,
      termination: {
        requestedAt: row.requestedAt,
        requestedBy: row.requestedBy,
        deleteAfter: row.deleteAfter,
        deletionStartedAt: row.deletionStartedAt,
        deletionId: row.requestId,
      },
      deletedAt: now.toISOString(),
      deleted: {
        ...Object.fromEntries(
          acks.map((a) => [a.service, { erased: a.erased ?? {}, retained: a.retained ?? [] }]),
        ),
        control: { erased: controlErased, retained: [TERMINATION_RETAINED[2]] },
      },
      keyDestruction: {
        dataKey: {
          destroyedAt: now.toISOString(),
          effect:
            "The controller's data key is deleted from the key store and the controller's record on the compacted controllers topic is tombstoned: every ciphertext sealed under it (numbers, bodies, webhook payloads, endpoint secrets), wherever a copy remains (topics until their retention ends, backups), no longer decrypts.",
        },
        pseudonymKey: 'retained, to match the retained opt-outs',
      },
      tombstones: {
        [topicFor(this.#d.cell, 'controllers.v1', this.#d.namespace)]: [row.controllerId],
        [topicFor(this.#d.cell, 'endpoints.v1', this.#d.namespace)]: endpointIds,
      },
      retained: TERMINATION_RETAINED,
      ledgerCheckpoint: checkpoint,
    };
    const sha256 = createHash('sha256').update(canonicalJson(certificate)).digest('hex');
    await store.finish(tx, row.controllerId, 'completed', now, { body: certificate, sha256 });
    return [
      this.#d.events.controllerRemoved(row.controllerId),
      ...endpointIds.map((id) => this.#d.events.endpoint(id, null)),
      this.#d.events.processing({
        operation: 'termination.certificate',
        controllerId: row.controllerId,
        dataCategories: ['user.contact.phone_number', 'user.content.private'],
        outcome: 'performed',
        reason: `deletion certificate sha256:${sha256}; data key destroyed ${now.toISOString()}; ledger checkpoint ${checkpoint ? `${checkpoint.treeSize} ${checkpoint.rootHash}` : 'unavailable'}`,
      }),
    ];
  }

  /** The ledger's newest checkpoint for the certificate; null when this control plane has no ledger. */
  async #checkpoint(): Promise<LedgerCheckpoint | null> {
    const latest = await this.#d.auditLedger?.latestCheckpoint();
    if (!latest) return null;
    const { origin, treeSize, rootHash, signedAt } = latest;
    return { origin, treeSize, rootHash, signedAt };
  }

  async #controllerState(tx: DbTx, controller: controlStore.ControllerRow): Promise<OutgoingRecord[]> {
    const stored = await new controlStore.PgControllerKeyStore(tx).get(toControllerId(controller.id));
    if (stored?.status !== 'active') return [];
    return [this.#d.events.controller(await controlStore.controllerState(tx, controller, stored.keys))];
  }

  #ledger(): AuditLedgerPort {
    if (!this.#d.auditLedger)
      throw new ControlProblem(
        'AUDIT_LEDGER_UNAVAILABLE',
        'this control plane was started without the audit service (AUDIT_INTERNAL_URL)',
      );
    return this.#d.auditLedger;
  }

  async #commit(change: (tx: DbTx) => Promise<readonly OutgoingRecord[]>): Promise<void> {
    await this.#commitCounting(async (tx) => ({ count: 0, records: await change(tx) }));
  }

  async #commitCounting(
    change: (tx: DbTx) => Promise<{ count: number; records: readonly OutgoingRecord[] }>,
  ): Promise<number> {
    let announced = false;
    const count = await this.#d.db.transaction(async (tx) => {
      const { count, records } = await change(tx);
      await this.#d.events.announce(tx, records);
      announced = records.length > 0;
      return count;
    });
    if (announced) this.#d.events.committed();
    return count;
  }
}

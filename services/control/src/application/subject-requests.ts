import {
  type Cell,
  encodeJson,
  type PrivacyAck,
  type PrivacyRequest,
  type PrivacyService,
  privacyExportContext,
  privacyRequestSchema,
  privacySubjectContext,
  type SuppressionEvent,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import type { Db, DbTx } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import {
  DecryptionFailedError,
  decryptField,
  encryptField,
  isE164,
  type Keyring,
  pseudonymise,
  toControllerId,
  toE164,
} from '@massivesms/privacy';
import {
  type SubjectAckRow,
  type SubjectRequestRow,
  type SubjectRequestType,
  subjectRequests as store,
} from '../adapters/pg-subject-requests.ts';
import { ControlProblem } from '../domain/problems.ts';
import { newId } from '../domain/tokens.ts';
import type { Clock, ControlEvents, Principal } from './ports.ts';

export interface SubjectRequestDeps {
  readonly db: Db;
  readonly cell: Cell;
  readonly namespace: string;
  readonly keyring: Keyring;
  readonly events: ControlEvents;
  readonly clock: Clock;
  /** Services that must acknowledge a request before it completes (CONTROL_DSR_SERVICES). */
  readonly expected: readonly PrivacyService[];
  /** Resolves when the principal may act for the controller; throws NOT_FOUND otherwise. */
  readonly controllerFor: (p: Principal, controllerId: string) => Promise<unknown>;
}

/**
 * Rectification (GDPR Art. 16): what the pipeline stores about a subject is the number messages were
 * sent to and records of that processing (statuses, receipts, webhooks, suppressions). Those records
 * are accurate as records of what happened to that number; rewriting them would falsify the audit
 * trail. No field is rectified in place: the controller corrects its own contact data, erases the
 * wrong number here if it wishes, and sends to the right one.
 */
export const RECTIFICATION_ANSWER = {
  rectified: [] as string[],
  explanation:
    'No stored field is rectifiable: the pipeline keeps no profile of a subject, only the number messages were sent to and the records of that processing, which stay accurate as records. Correct the number in your own systems; file an erasure for the wrong number if it should be forgotten here.',
};

/** What a data-subject request looks like to the controller. */
export interface SubjectRequestView {
  readonly id: string;
  readonly controllerId: string;
  readonly type: SubjectRequestType;
  readonly status: SubjectRequestRow['status'];
  readonly requestedAt: string;
  readonly completedAt: string | null;
  readonly erasedAt: string | null;
  readonly expected: string[];
  readonly acknowledged: {
    readonly service: string;
    readonly outcome: 'done' | 'failed';
    readonly erased: Record<string, number> | null;
    readonly retained: string[] | null;
    readonly reason: string | null;
    readonly receivedAt: string;
  }[];
  readonly result: Record<string, unknown> | null;
  /** Access, once complete: everything the pipeline holds about the subject, decrypted. */
  readonly export: Record<string, unknown> | null;
}

/**
 * Data-subject requests (DPA §8) for one (controller, phone number). The control plane records the
 * request and publishes it on privacy.requests.v1 in one transaction; each service answers on
 * privacy.acks.v1 for its own rows; the request completes once every expected service has. Every
 * step is a processing event on the audit topic, stored with the change it records.
 */
export class SubjectRequests {
  readonly #d: SubjectRequestDeps;

  constructor(deps: SubjectRequestDeps) {
    this.#d = deps;
  }

  /** Files a request; rectification is answered at once (see RECTIFICATION_ANSWER). */
  async submit(
    p: Principal,
    controllerId: string,
    input: { type: SubjectRequestType; phoneNumber: string },
  ): Promise<{ id: string; status: SubjectRequestRow['status'] }> {
    await this.#d.controllerFor(p, controllerId);
    if (!isE164(input.phoneNumber)) {
      throw new ControlProblem(
        'REQUEST_INVALID',
        'phoneNumber must be an E.164 number (+ and 8 to 15 digits, no spaces): the form every service stores it under',
      );
    }
    const id = newId('dsr');
    const now = this.#d.clock();
    const keys = await this.#d.keyring.get(toControllerId(controllerId));
    const pseudonym = pseudonymise(keys.pseudonymKey, toE164(input.phoneNumber));
    const subject = encryptField(keys.dataKey, input.phoneNumber, {
      ...privacySubjectContext(controllerId, id),
      controllerId: toControllerId(controllerId),
    });
    const rectification = input.type === 'rectification';
    const row = {
      id,
      controllerId,
      type: input.type,
      subjectPseudonym: pseudonym,
      subject,
      status: rectification ? ('completed' as const) : ('pending' as const),
      expected: rectification ? [] : [...this.#d.expected],
      result: rectification ? RECTIFICATION_ANSWER : null,
      requestedBy: p.tokenId,
      requestedAt: now.toISOString(),
      completedAt: rectification ? now.toISOString() : null,
    };
    const records: OutgoingRecord[] = [
      this.#d.events.processing({
        operation: `dsr.${input.type}.request`,
        controllerId,
        subjectPseudonym: pseudonym,
        actor: p.tokenId,
        dataCategories: ['user.contact.phone_number'],
        outcome: 'performed',
        reason: `data-subject request ${id}${rectification ? ': nothing rectifiable' : ''}`,
      }),
    ];
    if (input.type !== 'rectification') {
      const command: PrivacyRequest = {
        requestId: id,
        controllerId,
        region: this.#d.cell,
        type: input.type,
        subjectPseudonym: pseudonym,
        subject,
        requestedAt: now.toISOString(),
      };
      records.push({
        topic: topicFor(this.#d.cell, 'privacy.requests.v1', this.#d.namespace),
        // A subject's requests stay in order (a restriction, then an erasure).
        key: `${controllerId}:${pseudonym}`,
        value: encodeJson(privacyRequestSchema, command),
        headers: { region: this.#d.cell, controller: controllerId, schema: 'privacy.requests.v1' },
      });
    }
    if (input.type === 'restriction' || input.type === 'objection') {
      // Also the durable fact on the compacted suppressions topic: a service rebuilding its view
      // from it (new instance, empty table) still suppresses the subject.
      const suppression: SuppressionEvent = {
        controllerId,
        subjectPseudonym: pseudonym,
        kind: input.type,
        active: true,
        source: 'dsr',
        occurredAt: now.toISOString(),
      };
      records.push({
        topic: topicFor(this.#d.cell, 'suppressions.v1', this.#d.namespace),
        key: suppressionKey(suppression),
        value: encodeJson(suppressionEventSchema, suppression),
        headers: { region: this.#d.cell, controller: controllerId, schema: 'suppressions.v1' },
      });
    }
    await this.#d.db.transaction(async (tx) => {
      await store.insert(tx, row);
      await this.#d.events.announce(tx, records);
    });
    this.#d.events.committed();
    return { id, status: row.status };
  }

  /** The request's status; for a completed access request, the export (its download is audited). */
  async get(p: Principal, controllerId: string, requestId: string): Promise<SubjectRequestView> {
    await this.#d.controllerFor(p, controllerId);
    const row = await store.get(this.#d.db, controllerId, requestId);
    if (!row) throw new ControlProblem('NOT_FOUND');
    const acks = await store.acks(this.#d.db, requestId);
    let exported: Record<string, unknown> | null = null;
    if (row.type === 'access' && row.status === 'completed' && row.subject !== null) {
      exported = await this.#export(row, acks);
      await this.#d.db.transaction((tx) =>
        this.#d.events.announce(tx, [
          this.#d.events.processing({
            operation: 'dsr.access.export',
            controllerId,
            subjectPseudonym: row.subjectPseudonym,
            actor: p.tokenId,
            dataCategories: ['user.contact.phone_number', 'user.content.private'],
            outcome: 'performed',
            reason: `data-subject request ${requestId}`,
          }),
        ]),
      );
      this.#d.events.committed();
    }
    return {
      id: row.id,
      controllerId: row.controllerId,
      type: row.type,
      status: row.status,
      requestedAt: row.requestedAt,
      completedAt: row.completedAt,
      erasedAt: row.erasedAt,
      expected: [...row.expected],
      acknowledged: acks.map((a) => ({
        service: a.service,
        outcome: a.outcome,
        erased: a.erased,
        retained: a.retained ? [...a.retained] : null,
        reason: a.reason,
        receivedAt: a.receivedAt,
      })),
      result: row.result,
      export: exported,
    };
  }

  /**
   * Records the services' acknowledgements; a request whose expected services have all answered
   * completes (or fails, when one failed) in the same transaction. A completed erasure then erases
   * control's own copies (the sealed number of every request of the subject, the export parts).
   */
  async applyAcks(acks: readonly PrivacyAck[]): Promise<void> {
    for (const ack of acks) {
      if (ack.region !== this.#d.cell) continue; // another cell's: never ours to complete
      const done = await this.#d.db.transaction(async (tx) => {
        if (!(await store.addAck(tx, ack, this.#d.clock()))) return false;
        const row = await store.get(tx, ack.controllerId, ack.requestId, true);
        if (row?.status !== 'pending') return false;
        const all = await store.acks(tx, row.id);
        if (!row.expected.every((s) => all.some((a) => a.service === s))) return false;
        await this.#complete(tx, row, all);
        return true;
      });
      if (done) this.#d.events.committed();
    }
  }

  async #complete(tx: DbTx, row: SubjectRequestRow, acks: readonly SubjectAckRow[]): Promise<void> {
    const now = this.#d.clock();
    const failed = acks.filter((a) => a.outcome === 'failed');
    const result: Record<string, unknown> = {
      services: Object.fromEntries(
        acks.map((a) => [
          a.service,
          { outcome: a.outcome, erased: a.erased, retained: a.retained, reason: a.reason },
        ]),
      ),
    };
    if (row.type === 'erasure' && failed.length === 0) {
      result.control = {
        outcome: 'done',
        erased: await store.eraseSubject(tx, row.controllerId, row.subjectPseudonym, now),
        retained: [
          'control_subject_requests: which requests the subject made and how they were answered, by pseudonym only',
        ],
      };
    }
    await store.complete(tx, row.id, failed.length ? 'failed' : 'completed', result, now);
    await this.#d.events.announce(tx, [
      this.#d.events.processing({
        operation: `dsr.${row.type}.complete`,
        controllerId: row.controllerId,
        subjectPseudonym: row.subjectPseudonym,
        dataCategories: ['user.contact.phone_number'],
        outcome: failed.length ? 'failed' : 'performed',
        reason: `data-subject request ${row.id}${failed.length ? `: failed at ${failed.map((a) => a.service).join(', ')}` : ''}`,
      }),
    ]);
  }

  /** Every service's part, decrypted, plus control's own records of the subject's requests. */
  async #export(row: SubjectRequestRow, acks: readonly SubjectAckRow[]): Promise<Record<string, unknown>> {
    const controllerId = toControllerId(row.controllerId);
    const keys = await this.#d.keyring.get(controllerId);
    const open = (text: string, context: { recordId: string; field: string }) =>
      decryptField(keys.dataKey, text, { ...context, controllerId });
    const services: Record<string, unknown> = {};
    for (const ack of acks) {
      if (ack.export === null) continue;
      try {
        services[ack.service] = JSON.parse(
          open(ack.export, privacyExportContext(row.controllerId, row.id, ack.service as PrivacyService)),
        );
      } catch (error) {
        if (!(error instanceof DecryptionFailedError)) throw error;
        services[ack.service] = { error: 'this part does not decrypt under the controller key' };
      }
    }
    const history = await store.ofSubject(this.#d.db, row.controllerId, row.subjectPseudonym);
    return {
      controllerId: row.controllerId,
      requestId: row.id,
      generatedAt: row.completedAt,
      subject: { phoneNumber: open(row.subject!, privacySubjectContext(row.controllerId, row.id)) },
      subjectRequests: history.map((h) => ({
        id: h.id,
        type: h.type,
        status: h.status,
        requestedAt: h.requestedAt,
        completedAt: h.completedAt,
      })),
      ...services,
    };
  }
}

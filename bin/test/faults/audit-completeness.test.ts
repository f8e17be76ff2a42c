import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ProcessingEvent, processingEventSchema, webhookEventTypes } from '@massivesms/contracts';
import { findSubprocessor, processesOutsideRegion } from '@massivesms/privacy';
import { webhookStatusChange } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  type FaultPipeline,
  type LedgerRow,
  OPERATOR_TOKEN,
  SENDER,
  startFaultPipeline,
} from './pipeline.ts';

// Issue 11, completeness: the whole pipeline (router, dispatcher, webhooks, control, audit as the
// processes `massivesms` starts, real Kafka and PostgreSQL, carrier simulators, a webhook receiver)
// is driven through every operation on personal data the audit README lists; then the ledger must
// hold each operation's event exactly once (and nothing else), and no entry may contain a number,
// name or body the test used.

const TERMINAL = ['delivered', 'undelivered', 'failed', 'rejected', 'suppressed', 'expired'].map(
  (s) => `message.${s}`,
);
const README = new URL('../../../services/audit/README.md', import.meta.url);
const SECTION = '## Completeness: every operation on personal data and its event';

/** Operations of the README table this test does not drive, and the test that shows their event. */
const COVERED_ELSEWHERE: Readonly<Record<string, string>> = {
  'webhook.resend':
    'services/control/test/webhook-recovery.test.ts (needs a control-made controller with deliveries)',
};

/** The backticked `operation` values of the README's completeness table (issue-13 rows excluded). */
function documentedOperations(): Set<string> {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf(SECTION);
  expect(start, `services/audit/README.md has no "${SECTION}" section`).toBeGreaterThanOrEqual(0);
  const section = text.slice(start + SECTION.length).split(/\n## /)[0]!;
  const operations = new Set<string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (!line.startsWith('|') || cells.length < 5 || /^-+$/.test(cells[1]!)) continue;
    if (cells[1] === 'operation on personal data') continue; // the header
    for (const match of cells[3]!.matchAll(/`([a-z][a-z0-9_.]*)`/g)) operations.add(match[1]!);
  }
  return operations;
}

/** What a US controller's event names for a carrier: its safeguards only when it processes outside the US. */
function transferMechanism(carrier: string): string | undefined {
  const entry = findSubprocessor(carrier)!;
  return processesOutsideRegion(entry, 'us') ? entry.transferMechanisms.join('; ') : undefined;
}

/** Retries `check` every `everyMs` until it passes or `withinMs` is over (then throws its error). */
async function until(withinMs: number, check: () => Promise<void>, everyMs = 250): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

/** One event the run calls for: who, and what identifies it among that controller's events. */
interface Expected {
  readonly what: string;
  readonly controllerId: string;
  readonly messageId?: string;
  readonly matches: (e: ProcessingEvent) => boolean;
  /** How many distinct events must match (one per attempt or receipt); default exactly 1. */
  readonly count?: number;
  /** At least one, any number (carrier lookups repeat until the carrier knows the outcome). */
  readonly atLeastOne?: true;
}

describe('audit completeness: every operation on personal data has its event in the ledger, once', () => {
  let p: FaultPipeline;

  beforeAll(async () => {
    p = await startFaultPipeline({ also: ['audit', 'control'] });
  }, 120_000);
  afterAll(async () => {
    await p?.close();
  });

  it('drives each listed operation through the processes and finds its event exactly once, with ids and pseudonyms only', {
    timeout: 90_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    const started = Date.now();
    const canary = randomBytes(4).toString('hex');
    const NAME = ['Zebediah', 'Quillfeather'];
    const numbers: string[] = [];
    const bodies: string[] = [];
    /** A fresh recipient number (a canary: it must never reach the ledger). */
    const recipient = () => {
      const n = `+1415557${String(1_000 + numbers.length)}`;
      numbers.push(n);
      return n;
    };
    const request = (messageId: string, controllerId: string, to: string, extra = {}) => {
      const body = `Hi ${NAME.join(' ')}, your parcel ${canary}-${messageId} is on its way.`;
      bodies.push(body);
      return { messageId, controllerId, to, body, ...extra };
    };
    /** The ledger's rows with the events they hold. */
    const ledger = async () =>
      (await p.ledger()).map((row) => ({
        row,
        event: processingEventSchema.parse(JSON.parse(row.entry.toString())),
      }));
    const expected: Expected[] = [];
    const want = (e: Expected) => expected.push(e);
    const route = (controllerId: string, messageId: string, outcome: string, reason?: string) =>
      want({
        what: `route ${outcome}${reason ? ` (${reason})` : ''}`,
        controllerId,
        messageId,
        matches: (e) =>
          e.service === 'router' &&
          e.operation === 'route' &&
          e.outcome === outcome &&
          (reason === undefined
            ? outcome === 'performed' && e.subjectPseudonym !== undefined
            : e.reason === reason),
      });
    /**
     * A dispatcher event about one message at one carrier: it names the subject, the instruction, the
     * region and the carrier's transfer mechanism (if any); `reason` when given must match.
     */
    const atCarrier = (
      controllerId: string,
      messageId: string,
      operation: string,
      carrier: string,
      outcome: string,
      reason?: string,
      many?: { atLeastOne: true },
    ) =>
      want({
        what: `${operation} ${outcome} at ${carrier}${reason ? ` (${reason})` : ''}`,
        controllerId,
        messageId,
        ...many,
        matches: (e) =>
          e.service === 'dispatcher' &&
          e.operation === operation &&
          e.subprocessor === carrier &&
          e.outcome === outcome &&
          e.region === 'us' &&
          e.subjectPseudonym !== undefined &&
          e.instruction !== undefined &&
          e.transferMechanism === transferMechanism(carrier) &&
          (operation !== 'send' || e.purpose !== undefined) &&
          (reason === undefined || e.reason === reason),
      });
    const send = (controllerId: string, messageId: string, carrier: string, outcome: string) =>
      atCarrier(controllerId, messageId, 'send', carrier, outcome);
    const receipts = (controllerId: string, messageId: string, carrier: string) => {
      for (const status of ['sent', 'delivered'])
        atCarrier(controllerId, messageId, 'receipt', carrier, 'performed', `reported ${status}`);
    };

    // 1. Fail-over: Telnyx refuses acme's message (503), Twilio takes it. First and alone, so the
    // one-shot fault meets this send and no other.
    const nFailover = recipient();
    await p.telnyx.faults.configure({ next: [{ status5xx: 503 }] });
    await p.produceRequests([request('aud-failover', 'acme', nFailover)]);
    await until(30_000, async () => expect(p.twilio.ledger.countForCallbackId('aud-failover')).toBe(1));
    route('acme', 'aud-failover', 'performed');
    send('acme', 'aud-failover', 'telnyx', 'failed');
    send('acme', 'aud-failover', 'twilio', 'performed');
    receipts('acme', 'aud-failover', 'twilio');

    // 1b. An ambiguous send: Telnyx takes the message but never answers, and no receipt ever comes;
    // it is never resent, and the sweep closes it once its quarantine passed (DISPATCHER_QUARANTINE_MS).
    // Started early: the carrier timeout and the quarantine run while the rest is driven.
    const nAmbiguous = recipient();
    p.telnyx.faults.recipient(nAmbiguous, { receipts: { drop: true } });
    await p.telnyx.faults.configure({ next: [{ timeoutAfterAccept: true }] });
    await p.produceRequests([request('aud-ambiguous', 'acme', nAmbiguous)]);
    await until(30_000, async () => expect(p.telnyx.ledger.countForCallbackId('aud-ambiguous')).toBe(1));
    route('acme', 'aud-ambiguous', 'performed');
    send('acme', 'aud-ambiguous', 'telnyx', 'failed');
    // The unknown outcome closed by the sweep, never resent.
    atCarrier('acme', 'aud-ambiguous', 'send.reconcile', 'telnyx', 'failed', 'DISPATCH_OUTCOME_UNKNOWN');

    // 2. The control plane: a controller made, renamed, given a token, an instruction (and one
    // refused), endpoints made, changed, rotated, deleted, and recovered.
    const control = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${p.controlUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${OPERATOR_TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
    };
    await until(30_000, async () => expect((await fetch(`${p.controlUrl}/readyz`)).status).toBe(200));
    const co = 'audco';
    const controlOps: [string, string, number, unknown?][] = [
      ['POST', '/v1/controllers', 201, { id: co, name: 'Audit Co', region: 'us' }],
      ['PATCH', `/v1/controllers/${co}`, 200, { name: 'Audit Company' }],
      ['POST', `/v1/controllers/${co}/tokens`, 201],
      [
        'POST',
        `/v1/controllers/${co}/instructions`,
        201,
        {
          purposes: ['essential.service.notifications.sms'],
          subprocessors: ['telnyx'],
          retention: { contentDays: 30, metadataDays: 365 },
          storeContentAfterDispatch: false,
        },
      ],
      [
        'POST',
        `/v1/controllers/${co}/instructions`,
        422,
        {
          purposes: ['essential.service.notifications.sms'],
          subprocessors: ['carrier-pigeon'],
          retention: { contentDays: 30, metadataDays: 365 },
          storeContentAfterDispatch: false,
        },
      ],
    ];
    for (const [method, path, status, body] of controlOps)
      expect((await control(method, path, body)).status, `${method} ${path}`).toBe(status);
    const url = p.receiver.endpoint(co, { secrets: [`whsec_${randomBytes(24).toString('base64')}`] });
    const eventTypes = webhookEventTypes.filter((t) => t.startsWith('message.'));
    const created = await control('POST', `/v1/controllers/${co}/endpoints`, { url, eventTypes });
    const spare = await control('POST', `/v1/controllers/${co}/endpoints`, { url, eventTypes });
    expect([created.status, spare.status]).toEqual([201, 201]);
    const endpointId = (created.body as { id: string }).id;
    const spareId = (spare.body as { id: string }).id;
    const endpointOps: [string, string, number, unknown?][] = [
      ['PATCH', `/v1/controllers/${co}/endpoints/${endpointId}`, 200, { eventTypes: ['message.delivered'] }],
      ['POST', `/v1/controllers/${co}/endpoints/${endpointId}/secret/rotate`, 200, { graceSeconds: 60 }],
      ['DELETE', `/v1/controllers/${co}/endpoints/${spareId}`, 204],
      [
        'POST',
        `/v1/controllers/${co}/endpoints/${endpointId}/recover`,
        202,
        { since: new Date(Date.now() - 60_000).toISOString() },
      ],
    ];
    for (const [method, path, status, body] of endpointOps)
      expect((await control(method, path, body)).status, `${method} ${path}`).toBe(status);
    const controlEvent = (operation: string, outcome: string, reason?: (r: string) => boolean) =>
      want({
        what: `${operation} ${outcome}`,
        controllerId: co,
        matches: (e) =>
          e.service === 'control' &&
          e.operation === operation &&
          e.outcome === outcome &&
          e.actor === 'op_bootstrap' &&
          (reason === undefined || (e.reason !== undefined && reason(e.reason))),
      });
    controlEvent('controller.create', 'performed');
    controlEvent('controller.update', 'performed');
    controlEvent('token.issue', 'performed');
    controlEvent('instruction.publish', 'performed', (r) => r === 'version 1');
    controlEvent('instruction.publish', 'denied');
    controlEvent('endpoint.create', 'performed', (r) => r === `endpoint ${endpointId}`);
    controlEvent('endpoint.create', 'performed', (r) => r === `endpoint ${spareId}`);
    controlEvent('endpoint.update', 'performed', (r) => r === `endpoint ${endpointId}`);
    controlEvent('endpoint.rotate_secret', 'performed', (r) => r.startsWith(`endpoint ${endpointId}`));
    controlEvent('endpoint.delete', 'performed', (r) => r === `endpoint ${spareId}`);
    controlEvent('webhook.recover', 'performed', (r) => r.startsWith(`endpoint ${endpointId}`));
    // The recovery is a command the webhooks service carries out: it records what it requeued.
    want({
      what: 'webhook.requeue performed',
      controllerId: co,
      matches: (e) =>
        e.service === 'webhooks' &&
        e.operation === 'webhook.requeue' &&
        e.outcome === 'performed' &&
        e.actor === 'op_bootstrap' &&
        (e.reason ?? '').startsWith('recover command '),
    });

    // 3. Messages: delivered through Telnyx; refused by validation; expired; refused by the carrier
    // as opted out; receipts lost (the carrier is asked); solo's, whose webhooks each fail once.
    const nDelivered = recipient();
    const nOptedOut = recipient();
    const nLost = recipient();
    const nStop = recipient();
    const nSolo = recipient();
    const invalidTo = `ring ${NAME[0]} on 555`;
    p.telnyx.faults.recipient(nOptedOut, { error: 'optedOut' });
    p.telnyx.faults.recipient(nLost, { receipts: { drop: true } });
    p.receiver.setBehaviour('solo', { failFirst: 1 });
    await p.produceRequests([
      request('aud-delivered', 'acme', nDelivered),
      request('aud-invalid', 'acme', invalidTo),
      request('aud-expired', 'acme', recipient(), {
        validUntil: new Date(Date.now() - 60_000).toISOString(),
      }),
      request('aud-opted-out', 'acme', nOptedOut),
      request('aud-lost-receipts', 'acme', nLost),
      request('aud-before-stop', 'acme', nStop),
      request('aud-solo', 'solo', nSolo),
    ]);
    route('acme', 'aud-delivered', 'performed');
    send('acme', 'aud-delivered', 'telnyx', 'performed');
    receipts('acme', 'aud-delivered', 'telnyx');
    want({
      what: 'route denied by validation (the recipient is no number)',
      controllerId: 'acme',
      messageId: 'aud-invalid',
      matches: (e) =>
        e.operation === 'route' &&
        e.outcome === 'denied' &&
        /^SMS_/.test(e.reason ?? '') &&
        !e.subjectPseudonym,
    });
    route('acme', 'aud-expired', 'denied', 'expired');
    route('acme', 'aud-opted-out', 'performed');
    send('acme', 'aud-opted-out', 'telnyx', 'failed');
    // The carrier's opt-out puts the subject on the suppression list.
    atCarrier(
      'acme',
      'aud-opted-out',
      'carrier.opt_out',
      'telnyx',
      'performed',
      'suppressed: opt_out (telnyx.send)',
    );
    route('acme', 'aud-lost-receipts', 'performed');
    send('acme', 'aud-lost-receipts', 'telnyx', 'performed');
    // The carrier asked about a message whose receipts were lost (again, until it knows the outcome).
    atCarrier('acme', 'aud-lost-receipts', 'send.lookup', 'telnyx', 'performed', undefined, {
      atLeastOne: true,
    });
    route('acme', 'aud-before-stop', 'performed');
    send('acme', 'aud-before-stop', 'telnyx', 'performed');
    receipts('acme', 'aud-before-stop', 'telnyx');
    route('solo', 'aud-solo', 'performed');
    send('solo', 'aud-solo', 'telnyx', 'performed');
    receipts('solo', 'aud-solo', 'telnyx');

    // 4. Suppression: the recipient answers STOP; the next message to them is suppressed; then HELP
    // and START (through Twilio).
    /** Whether the message's terminal webhook was acknowledged. */
    const terminal = (messageId: string) =>
      p.receiver.received.some((r) => {
        const change = webhookStatusChange(r.body);
        return r.status === 200 && change?.messageId === messageId && TERMINAL.includes(change.type);
      });
    await until(30_000, async () => expect(terminal('aud-before-stop')).toBe(true));
    const inbound = (carrier: 'telnyx' | 'twilio', text: string) =>
      p[carrier].sendInbound({ to: SENDER, from: nStop, text, url: `${p.dispatcherUrl}/inbound/${carrier}` });
    expect((await inbound('telnyx', 'STOP')).attempts.at(-1)?.status).toBe(200);
    const pseudonymOf = async (messageId: string) => {
      const routed = (await ledger())
        .map((l) => l.event)
        .find((e) => e.messageId === messageId && e.operation === 'route');
      expect(routed?.subjectPseudonym, `the route event of ${messageId}`).toMatch(/^ps_/);
      return routed!.subjectPseudonym!;
    };
    let stopped = '';
    await until(30_000, async () => {
      stopped = await pseudonymOf('aud-before-stop');
    });
    await until(30_000, async () => {
      const { rows } = await p.db.query(
        'SELECT 1 FROM router_suppressions WHERE controller_id = $1 AND pseudonym = $2 AND active',
        ['acme', stopped],
      );
      expect(rows).toHaveLength(1);
    });
    await p.produceRequests([request('aud-suppressed', 'acme', nStop)]);
    route('acme', 'aud-suppressed', 'denied', 'suppressed: opt_out');
    expect((await inbound('telnyx', 'HELP')).attempts.at(-1)?.status).toBe(200);
    expect((await inbound('twilio', 'START')).attempts.at(-1)?.status).toBe(200);
    for (const [operation, carrier] of [
      ['inbound.opt_out', 'telnyx'],
      ['inbound.help', 'telnyx'],
      ['inbound.opt_in', 'twilio'],
    ] as const)
      want({
        what: `${operation} from the recipient`,
        controllerId: 'acme',
        matches: (e) =>
          e.operation === operation &&
          e.subprocessor === carrier &&
          e.subjectPseudonym === stopped &&
          e.transferMechanism === transferMechanism(carrier) &&
          e.outcome === 'performed',
      });

    // 5. Every message ended (its terminal webhook acknowledged); every webhook attempt the receiver
    // saw is one `webhook.deliver` event (failed ones too), named by type, endpoint and HTTP status.
    const messages = [
      'aud-failover',
      'aud-ambiguous',
      'aud-delivered',
      'aud-invalid',
      'aud-expired',
      'aud-opted-out',
      'aud-lost-receipts',
      'aud-before-stop',
      'aud-solo',
      'aud-suppressed',
    ];
    await until(45_000, async () => expect(messages.filter((m) => !terminal(m))).toEqual([]));
    // Each of solo's webhooks: a failed first attempt, then the one that succeeded.
    await until(20_000, async () => {
      const soloTries = Map.groupBy(p.receiver.forEndpoint('solo'), (r) => r.webhookId);
      expect(soloTries.size).toBeGreaterThan(1);
      for (const tries of soloTries.values()) expect(tries.map((r) => r.status)).toEqual([500, 200]);
    });
    const attempts = () =>
      Map.groupBy(
        p.receiver.received.flatMap((r) => {
          const change = webhookStatusChange(r.body);
          if (!change || !['acme', 'solo'].includes(r.endpoint)) return [];
          const controllerId = r.endpoint;
          const reason = `${change.type} to endpoint ep_${r.endpoint}: HTTP ${r.status}`;
          return [{ controllerId, messageId: change.messageId, reason, status: r.status }];
        }),
        (a) => `${a.controllerId}\u001f${a.messageId}\u001f${a.reason}`,
      );

    // The controller takes its entries out (DPA §10): once a checkpoint covers them, one export.
    const period = `from=${new Date(started - 60_000).toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`;
    await until(30_000, async () =>
      expect((await control('GET', `/v1/controllers/${co}/audit-export?${period}`)).status).toBe(200),
    );
    controlEvent('audit.export', 'performed', (r) => / \d+ entries$/.test(r));

    // 6. The ledger: every expected event once, nothing unexpected, no personal data in any entry.
    const webhookExpectations = (): Expected[] =>
      [...attempts().values()].map((group) => {
        const a = group[0]!;
        return {
          what: `webhook attempt(s) "${a.reason}"`,
          controllerId: a.controllerId,
          messageId: a.messageId,
          count: group.length,
          matches: (e) =>
            e.service === 'webhooks' &&
            e.operation === 'webhook.deliver' &&
            e.reason === a.reason &&
            e.outcome === (a.status >= 200 && a.status < 300 ? 'performed' : 'failed'),
        };
      });
    const problems = (all: readonly { row: LedgerRow; event: ProcessingEvent }[]) => {
      const found: string[] = [];
      const claimed = new Set<string>();
      for (const x of [...expected, ...webhookExpectations()]) {
        const matching = all.filter(
          ({ event: e }) => e.controllerId === x.controllerId && e.messageId === x.messageId && x.matches(e),
        );
        for (const m of matching) claimed.add(m.row.eventId);
        const want = x.count ?? 1;
        if (x.atLeastOne ? matching.length === 0 : matching.length !== want)
          found.push(
            `${x.controllerId}/${x.messageId ?? '-'}: ${x.what}: ${matching.length} events, expected ${x.atLeastOne ? 'at least 1' : want}`,
          );
      }
      for (const { row, event } of all)
        if (!claimed.has(row.eventId))
          found.push(
            `unexpected: ${event.service} ${event.operation} ${event.outcome} ${event.controllerId}/${event.messageId ?? '-'} (${event.reason ?? ''})`,
          );
      return found;
    };
    let all: { row: LedgerRow; event: ProcessingEvent }[] = [];
    await until(30_000, async () => {
      all = await ledger();
      expect(problems(all)).toEqual([]);
    });
    // Webhooks retried or receipts still arriving after the check above would be new operations:
    // everything ended, so a last look must find the same ledger.
    await p.telnyx.settled();
    await p.twilio.settled();
    await until(10_000, async () => {
      all = await ledger();
      expect(problems(all)).toEqual([]);
    });

    // The ledger holds each event once, under the id the event carries, for its controller.
    expect(new Set(all.map(({ row }) => row.eventId)).size).toBe(all.length);
    for (const { row, event } of all) {
      expect(event.eventId).toBe(row.eventId);
      expect(row.controllerId).toBe(event.controllerId);
    }
    expect(all.map(({ row }) => row.seq)).toEqual(all.map((_, i) => i + 1));
    // Each message's events name one subject, and different recipients are different subjects.
    const subjects = Map.groupBy(
      all.filter(({ event }) => event.messageId && event.subjectPseudonym),
      ({ event }) => event.messageId!,
    );
    const subjectOf = new Map(
      [...subjects].map(([m, es]) => [m, new Set(es.map((x) => x.event.subjectPseudonym))]),
    );
    for (const [messageId, pseudonyms] of subjectOf) expect(pseudonyms.size, messageId).toBe(1);
    expect(subjectOf.get('aud-suppressed')).toEqual(subjectOf.get('aud-before-stop'));
    expect(new Set([...subjectOf.values()].flatMap((s) => [...s])).size).toBe(subjectOf.size - 1);
    // Ids and pseudonyms only: no number (in any spelling), name or body in any entry's bytes.
    const forbidden = [
      ...numbers.flatMap((n) => [n, n.slice(1), n.slice(2)]),
      ...NAME,
      ...bodies,
      invalidTo,
      canary,
    ];
    const leaks = all.flatMap(({ row }) => {
      const text = row.entry.toString('utf8');
      return forbidden.filter((f) => text.includes(f)).map((f) => `seq ${row.seq} contains "${f}"`);
    });
    expect(leaks).toEqual([]);

    // Every operation the README lists is driven here or named with the test that covers it.
    const driven = new Set([...all.map(({ event }) => event.operation), ...Object.keys(COVERED_ELSEWHERE)]);
    const documented = documentedOperations();
    expect([...documented].filter((op) => !driven.has(op))).toEqual([]);
    expect([...new Set(all.map(({ event }) => event.operation))].filter((op) => !documented.has(op))).toEqual(
      [],
    );
  });
});

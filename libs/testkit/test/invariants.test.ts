import type { ProcessingEvent, Rejection, StatusEvent } from '@massivesms/contracts';
import { describe, expect, it } from 'vitest';
import {
  type CarrierAcceptance,
  callbackTarget,
  checkInvariants,
  formatReport,
  type InvariantReport,
  type RunRecord,
  requestRefOf,
  subscriptionsOf,
  type ViolationKind,
  violationsOf,
  type WebhookAttempt,
} from '../src/invariants/index.ts';

// Planted data: a clean run of five requests as the pipeline produces it, which each test spoils in
// one way. Every test first checks the clean run is clean, so each planted fault is what it sees.
//   m-ok       routed, sent by Telnyx, queued@1, delivered@2
//   m-fo       routed, Telnyx did not take it, failed over to Twilio, queued@1, undelivered@2
//   m-sup      suppressed by the router (suppressed@0)
//   m-bad      rejected by the router (rejected@0 and a rejection)
//   (garbage)  a record with no ids, rejected by position only

const REQUESTED = 't.us.sms.requested.v1';
const NUMBER = '+14155550123';
let seq = 0;
const nextId = (prefix: string) => `${prefix}-${++seq}`;

function status(messageId: string, statusSeq: number, value: StatusEvent['status'], extra = {}): StatusEvent {
  return {
    eventId: nextId('st'),
    messageId,
    controllerId: 'acme',
    campaignId: 'winter',
    region: 'us',
    status: value,
    statusSeq,
    occurredAt: `2026-01-01T00:00:0${statusSeq}.000Z`,
    ...extra,
  };
}

function processing(event: Partial<ProcessingEvent> & Pick<ProcessingEvent, 'service' | 'operation'>) {
  return {
    eventId: nextId('pe'),
    occurredAt: '2026-01-01T00:00:00.000Z',
    controllerId: 'acme',
    dataCategories: ['user.contact.phone_number'],
    region: 'us',
    outcome: 'performed',
    ...event,
  } satisfies ProcessingEvent;
}

/** A ledger entry as a simulator records it: with the number and text, which the report must never show. */
function accepted(carrier: 'telnyx' | 'twilio', messageId: string, controllerId = 'acme') {
  return {
    carrier,
    carrierMessageId: nextId(carrier),
    callbackUrl: `http://127.0.0.1:9/receipts/${carrier}/${controllerId}/${encodeURIComponent(messageId)}`,
    to: NUMBER,
    from: '+14155550100',
    text: 'Your order has shipped',
    response: 'answered' as const,
  };
}

function webhook(messageId: string, statusSeq: number, value: string, extra: Partial<WebhookAttempt> = {}) {
  return {
    endpoint: 'hooks-a',
    webhookId: `msg_${messageId}_${statusSeq}`,
    body: JSON.stringify({
      type: `message.${value}`,
      timestamp: '2026-01-01T00:00:05.000Z',
      data: { messageId, campaignId: 'winter', status: value, statusSeq, to: NUMBER },
    }),
    status: 200,
    ...extra,
  } satisfies WebhookAttempt;
}

const delivery = (messageId: string, eventType: string, extra: Partial<ProcessingEvent> = {}) =>
  processing({
    service: 'webhooks',
    operation: 'webhook.deliver',
    messageId,
    reason: `${eventType} to endpoint ep_a: HTTP 200`,
    ...extra,
  });

interface PlantedRun {
  requests: NonNullable<RunRecord['requests']>[number][];
  statuses: StatusEvent[];
  rejections: Rejection[];
  carrierAcceptances: CarrierAcceptance[];
  webhooks: {
    attempts: WebhookAttempt[];
    subscriptions: NonNullable<RunRecord['webhooks']>['subscriptions'];
  };
  processingEvents: ProcessingEvent[];
}

function cleanRun(): PlantedRun {
  const garbage = { topic: REQUESTED, partition: 1, offset: '7' };
  const rejection = (extra: Partial<Rejection>): Rejection => ({
    rejectionId: nextId('rj'),
    code: 'SMS_INVALID_RECIPIENT',
    reason: 'to: not a phone number',
    region: 'us',
    source: { topic: REQUESTED, partition: 0, offset: '3' },
    occurredAt: '2026-01-01T00:00:00.000Z',
    ...extra,
  });
  const statuses = [
    status('m-ok', 0, 'accepted'),
    status('m-ok', 1, 'queued', { carrier: 'telnyx' }),
    status('m-ok', 2, 'delivered', { carrier: 'telnyx' }),
    status('m-fo', 0, 'accepted'),
    status('m-fo', 1, 'queued', { carrier: 'twilio' }),
    status('m-fo', 2, 'undelivered', { carrier: 'twilio' }),
    status('m-sup', 0, 'suppressed'),
    status('m-bad', 0, 'rejected', { errorCode: 'SMS_INVALID_RECIPIENT' }),
  ];
  const route = (messageId: string) => processing({ service: 'router', operation: 'route', messageId });
  const webhookOf = (s: StatusEvent) => webhook(s.messageId, s.statusSeq, s.status);
  return {
    requests: [
      { controllerId: 'acme', messageId: 'm-ok', source: { topic: REQUESTED, partition: 0, offset: '0' } },
      { controllerId: 'acme', messageId: 'm-fo', source: { topic: REQUESTED, partition: 0, offset: '1' } },
      { controllerId: 'acme', messageId: 'm-sup', source: { topic: REQUESTED, partition: 0, offset: '2' } },
      { controllerId: 'acme', messageId: 'm-bad', source: { topic: REQUESTED, partition: 0, offset: '3' } },
      { source: garbage },
    ],
    statuses,
    rejections: [
      rejection({ controllerId: 'acme', messageId: 'm-bad' }),
      rejection({ code: 'CONTRACT_UNDECODABLE', reason: 'record value is not valid JSON', source: garbage }),
    ],
    carrierAcceptances: [accepted('telnyx', 'm-ok'), accepted('twilio', 'm-fo')],
    webhooks: {
      attempts: statuses.map(webhookOf),
      subscriptions: [
        {
          receiverEndpoint: 'hooks-a',
          endpointId: 'ep_a',
          controllerId: 'acme',
          eventTypes: [
            'message.accepted',
            'message.queued',
            'message.delivered',
            'message.undelivered',
          ].concat(['message.failed', 'message.rejected', 'message.suppressed', 'message.expired']),
        },
      ],
    },
    processingEvents: [
      route('m-ok'),
      route('m-fo'),
      route('m-sup'),
      route('m-bad'),
      processing({ service: 'dispatcher', operation: 'send', messageId: 'm-ok', subprocessor: 'telnyx' }),
      processing({
        service: 'dispatcher',
        operation: 'send',
        messageId: 'm-fo',
        subprocessor: 'telnyx',
        outcome: 'failed',
        reason: 'TELNYX_UNAVAILABLE',
      }),
      processing({ service: 'dispatcher', operation: 'send', messageId: 'm-fo', subprocessor: 'twilio' }),
      ...statuses.map((s) => delivery(s.messageId, `message.${s.status}`)),
    ],
  };
}

const kinds = (report: InvariantReport) => report.violations.map((v) => v.kind).sort();

/** Checks the clean run first (it must pass), then the spoiled one. */
function checkPlanted(spoil: (run: PlantedRun) => void, options = {}): InvariantReport {
  const run = cleanRun();
  const clean = checkInvariants(run, options);
  expect(clean.violations, formatReport(clean)).toEqual([]);
  spoil(run);
  return checkInvariants(run, options);
}

describe('the invariant checker on planted data', () => {
  it('passes the clean run, having looked at every part of it', () => {
    const report = checkInvariants(cleanRun());
    expect(report.ok).toBe(true);
    expect(report.checked).toEqual({
      requests: 5,
      statuses: 8,
      rejections: 2,
      carrierAcceptances: 2,
      webhookAttempts: 8,
      processingEvents: 15,
      processingRules: ['route', 'send', 'webhook.deliver'],
    });
    expect(formatReport(report)).toBe('no violations');
  });

  it('shows the parts it was not given as not checked', () => {
    const { requests, statuses, rejections } = cleanRun();
    expect(checkInvariants({ requests, statuses, rejections }).checked).toMatchObject({
      carrierAcceptances: null,
      webhookAttempts: null,
      processingEvents: null,
      processingRules: [],
    });
  });

  describe('every request has exactly one terminal status', () => {
    it('reports a planted loss: a request with no status at all', () => {
      const report = checkPlanted((run) => {
        run.requests.push({ controllerId: 'acme', messageId: 'm-lost' });
      });
      expect(report.ok).toBe(false);
      expect(report.violations).toEqual([
        {
          kind: 'missing_terminal',
          controllerId: 'acme',
          messageId: 'm-lost',
          detail: 'no status and no rejection',
        },
      ]);
    });

    it('reports a message whose terminal status was lost (last status queued)', () => {
      const report = checkPlanted((run) => {
        run.statuses = run.statuses.filter((s) => !(s.messageId === 'm-ok' && s.status === 'delivered'));
        run.webhooks.attempts = run.webhooks.attempts.filter((w) => !w.body.includes('"message.delivered"'));
        run.processingEvents = run.processingEvents.filter(
          (e) => e.reason !== 'message.delivered to endpoint ep_a: HTTP 200',
        );
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'missing_terminal',
          messageId: 'm-ok',
          detail: 'last status queued@1 is not terminal',
        }),
      ]);
    });

    it('does not count `unknown` as terminal', () => {
      const report = checkPlanted((run) => {
        // The carrier's answer was lost: accepted@0, then unknown@1, and nothing since.
        run.statuses = run.statuses.filter((s) => !(s.messageId === 'm-ok' && s.statusSeq > 0));
        run.statuses.push(status('m-ok', 1, 'unknown'));
        run.webhooks.attempts = run.webhooks.attempts.filter((w) => !/msg_m-ok_[12]/.test(w.webhookId));
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'missing_terminal',
          messageId: 'm-ok',
          detail: 'last status unknown@1 is not terminal',
        }),
      ]);
    });

    it('reports a request with no ids that nobody answered, by its position', () => {
      const report = checkPlanted((run) => {
        run.rejections = run.rejections.filter((r) => r.code !== 'CONTRACT_UNDECODABLE');
      });
      expect(report.violations).toEqual([
        {
          kind: 'missing_terminal',
          source: { topic: REQUESTED, partition: 1, offset: '7' },
          detail: 'no status and no rejection',
        },
      ]);
    });

    it('formats a request with no ids by its position', () => {
      const report = checkPlanted((run) => {
        run.rejections = run.rejections.filter((r) => r.code !== 'CONTRACT_UNDECODABLE');
      });
      expect(formatReport(report)).toBe(
        `1 violations: missing_terminal 1\n- missing_terminal ${REQUESTED}[1]@7: no status and no rejection`,
      );
    });

    it('expects no `route` event for a request rejected by position only, and one when the rejection names it', () => {
      const schemaInvalid = { topic: REQUESTED, partition: 1, offset: '8' };
      const report = checkPlanted((run) => {
        // Its JSON has ids, but the router could not read it as a request: no subject, no decision to log.
        run.requests.push({ controllerId: 'acme', messageId: 'm-schema', source: schemaInvalid });
        run.rejections.push({ ...run.rejections[1]!, rejectionId: 'rj-schema', source: schemaInvalid });
      });
      expect(report.violations).toEqual([]);

      const named = checkPlanted((run) => {
        run.requests.push({ controllerId: 'acme', messageId: 'm-named', source: schemaInvalid });
        run.rejections.push({
          ...run.rejections[0]!,
          rejectionId: 'rj-named',
          messageId: 'm-named',
          source: schemaInvalid,
        });
      });
      expect(named.violations).toEqual([
        expect.objectContaining({ kind: 'processing_event_missing', rule: 'route', messageId: 'm-named' }),
      ]);
    });

    it('reports two different terminal statuses of one message', () => {
      const report = checkPlanted((run) => {
        const late = status('m-ok', 3, 'failed');
        run.statuses.push(late);
        run.webhooks.attempts.push(webhook('m-ok', 3, 'failed'));
        run.processingEvents.push(delivery('m-ok', 'message.failed'));
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'two_terminal_statuses',
          messageId: 'm-ok',
          detail: 'terminal statuses delivered@2, failed@3',
        }),
      ]);
    });

    it('reports one terminal status published twice under two statusSeqs', () => {
      const report = checkPlanted((run) => {
        run.statuses.push(status('m-sup', 1, 'suppressed'));
        run.webhooks.attempts.push(webhook('m-sup', 1, 'suppressed'));
      });
      expect(kinds(report)).toEqual(['processing_event_missing', 'two_terminal_statuses']);
      // Two message.suppressed webhooks delivered, one logged.
      expect(violationsOf(report, 'processing_event_missing')[0]).toMatchObject({
        rule: 'webhook.deliver',
        messageId: 'm-sup',
      });
    });

    it('does not report a status republished with another event id and the same statusSeq', () => {
      const report = checkPlanted((run) => {
        const delivered = run.statuses.find((s) => s.messageId === 'm-ok' && s.status === 'delivered')!;
        run.statuses.push({
          ...delivered,
          eventId: 'st-republished',
          occurredAt: '2026-01-01T00:01:00.000Z',
        });
        run.statuses.push({ ...delivered }); // and a byte-for-byte copy
      });
      expect(report.violations).toEqual([]);
      expect(report.checked.statuses).toBe(10);
    });

    it('reports two statuses with one statusSeq', () => {
      const report = checkPlanted((run) => {
        run.statuses.push(status('m-fo', 1, 'sent'));
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'status_seq_conflict',
          messageId: 'm-fo',
          detail: 'statusSeq 1 carries different statuses: queued, sent',
        }),
      ]);
    });

    it('reports a status after the terminal one', () => {
      const report = checkPlanted((run) => {
        run.statuses.push(status('m-ok', 3, 'sent'));
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'status_after_terminal',
          messageId: 'm-ok',
          detail: 'sent@3 after delivered@2',
        }),
      ]);
    });

    it('reports a rejection beside another terminal status, and a rejection made twice', () => {
      const report = checkPlanted((run) => {
        const rejection = run.rejections.find((r) => r.messageId === 'm-bad')!;
        run.rejections.push({ ...rejection, rejectionId: 'rj-again' }, { ...rejection, messageId: 'm-ok' });
      });
      expect(kinds(report)).toEqual(['rejection_duplicated', 'sent_but_refused', 'two_terminal_statuses']);
      expect(violationsOf(report, 'rejection_duplicated')[0]).toMatchObject({ messageId: 'm-bad' });
      expect(violationsOf(report, 'two_terminal_statuses')[0]).toMatchObject({
        messageId: 'm-ok',
        detail: 'rejected on sms.rejected.v1, yet delivered@2',
      });
    });

    it('reports statuses and rejections of messages nobody requested', () => {
      const report = checkPlanted((run) => {
        run.statuses.push(status('m-ghost', 0, 'accepted'));
        run.rejections.push({
          ...run.rejections[0]!,
          messageId: 'm-ghost2',
          source: { topic: REQUESTED, partition: 2, offset: '0' },
        });
      });
      expect(kinds(report)).toEqual(['answer_without_request', 'answer_without_request']);
      expect(report.violations.map((v) => v.messageId).sort()).toEqual(['m-ghost', 'm-ghost2']);
    });
  });

  describe('no message is accepted twice by any carrier', () => {
    it('reports a planted duplicate: one message id accepted twice by Telnyx', () => {
      let first = '';
      let again = '';
      const report = checkPlanted((run) => {
        first = run.carrierAcceptances.find((a) => a.carrier === 'telnyx')!.carrierMessageId;
        const entry = accepted('telnyx', 'm-ok');
        again = entry.carrierMessageId;
        run.carrierAcceptances.push(entry);
        // The second send was logged too: the duplicate is the only fault.
        run.processingEvents.push(
          processing({
            service: 'dispatcher',
            operation: 'send',
            messageId: 'm-ok',
            subprocessor: 'telnyx',
            occurredAt: '2026-01-01T00:00:09.000Z',
          }),
        );
      });
      expect(report.violations).toEqual([
        {
          kind: 'double_send',
          controllerId: 'acme',
          messageId: 'm-ok',
          carrierMessageIds: [first, again],
          detail: 'accepted 2 times: telnyx, telnyx',
        },
      ]);
    });

    it('reports one message accepted by both carriers', () => {
      const report = checkPlanted((run) => {
        run.carrierAcceptances.push(accepted('telnyx', 'm-fo'));
      });
      // Telnyx's attempt has its (failed) send event, so the send rule is met: the double send is the finding.
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'double_send',
          messageId: 'm-fo',
          detail: 'accepted 2 times: twilio, telnyx',
        }),
      ]);
    });

    it('reports a send of a suppressed message, a send nobody asked for and one it cannot attribute', () => {
      const report = checkPlanted((run) => {
        run.carrierAcceptances.push(accepted('twilio', 'm-sup'), accepted('telnyx', 'm-ghost'), {
          ...accepted('telnyx', 'x'),
          callbackUrl: undefined,
        });
        run.processingEvents.push(
          processing({
            service: 'dispatcher',
            operation: 'send',
            messageId: 'm-sup',
            subprocessor: 'twilio',
          }),
        );
      });
      expect(kinds(report)).toEqual([
        'processing_event_missing', // nobody logged the send of m-ghost either
        'send_unattributed',
        'send_without_request',
        'sent_but_refused',
      ]);
      expect(violationsOf(report, 'processing_event_missing')[0]).toMatchObject({
        rule: 'send',
        messageId: 'm-ghost',
      });
      expect(violationsOf(report, 'sent_but_refused')[0]).toMatchObject({
        messageId: 'm-sup',
        detail: 'twilio accepted a message whose status is suppressed',
      });
      expect(violationsOf(report, 'send_without_request')[0]).toMatchObject({ messageId: 'm-ghost' });
    });

    it('reports a carrier status with no carrier acceptance behind it', () => {
      const report = checkPlanted((run) => {
        run.carrierAcceptances = run.carrierAcceptances.filter((a) => a.carrier !== 'telnyx');
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'status_without_send',
          messageId: 'm-ok',
          detail: 'status queued, delivered but no carrier accepted the message',
        }),
      ]);
    });
  });

  describe('each subscribed endpoint receives every terminal status under one webhook-id', () => {
    it('reports a webhook delivered under two webhook-ids', () => {
      const report = checkPlanted((run) => {
        run.webhooks.attempts.push(webhook('m-ok', 2, 'delivered', { webhookId: 'msg_other' }));
      });
      expect(report.violations).toEqual([
        {
          kind: 'webhook_id_changed',
          controllerId: 'acme',
          messageId: 'm-ok',
          endpointId: 'ep_a',
          webhookIds: ['msg_m-ok_2', 'msg_other'],
          detail: 'message.delivered (statusSeq 2) reached endpoint ep_a under 2 webhook-ids',
        },
      ]);
    });

    it('does not report retries of one webhook-id, and counts only 2xx as delivered', () => {
      const report = checkPlanted((run) => {
        const delivered = run.webhooks.attempts.findIndex((w) => w.webhookId === 'msg_m-fo_2');
        const ok = run.webhooks.attempts[delivered]!;
        run.webhooks.attempts.splice(delivered, 0, { ...ok, status: 503 }, { ...ok, status: 0 });
      });
      expect(report.violations).toEqual([]);
    });

    it('reports a terminal status that never reached a subscribed endpoint, or never got a 2xx', () => {
      const report = checkPlanted((run) => {
        run.webhooks.attempts = run.webhooks.attempts
          .filter((w) => w.webhookId !== 'msg_m-ok_2')
          .map((w) => (w.webhookId === 'msg_m-sup_0' ? { ...w, status: 500 } : w));
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'webhook_missing',
          messageId: 'm-ok',
          endpointId: 'ep_a',
          detail: 'message.delivered (statusSeq 2) never reached the endpoint',
        }),
        expect.objectContaining({
          kind: 'webhook_missing',
          messageId: 'm-sup',
          webhookIds: ['msg_m-sup_0'],
          detail: 'message.suppressed (statusSeq 0) never answered 2xx: 1 attempts, last HTTP 500',
        }),
      ]);
    });

    it('requires non-terminal statuses only when asked to', () => {
      const spoil = (run: PlantedRun) => {
        run.webhooks.attempts = run.webhooks.attempts.filter((w) => w.webhookId !== 'msg_m-fo_1');
        run.processingEvents = run.processingEvents.filter(
          (e) => !(e.messageId === 'm-fo' && e.reason?.startsWith('message.queued')),
        );
      };
      expect(checkPlanted(spoil).violations).toEqual([]);
      expect(checkPlanted(spoil, { webhookStatuses: 'all' }).violations).toEqual([
        expect.objectContaining({
          kind: 'webhook_missing',
          messageId: 'm-fo',
          detail: 'message.queued (statusSeq 1) never reached the endpoint',
        }),
      ]);
    });

    it('expects nothing an endpoint does not subscribe to', () => {
      const report = checkPlanted((run) => {
        run.webhooks.subscriptions = [
          { ...run.webhooks.subscriptions[0]!, eventTypes: ['message.delivered'] },
        ];
        run.webhooks.attempts = run.webhooks.attempts.filter((w) => w.body.includes('"message.delivered"'));
        run.processingEvents = run.processingEvents.filter(
          (e) => e.operation !== 'webhook.deliver' || e.reason?.startsWith('message.delivered'),
        );
      });
      expect(report.violations).toEqual([]);
    });
  });

  describe('every processing event a state change calls for is on its topic, under one id', () => {
    it.each([
      ['route', (e: ProcessingEvent) => e.operation === 'route' && e.messageId === 'm-sup', 'm-sup'],
      ['send', (e: ProcessingEvent) => e.subprocessor === 'twilio', 'm-fo'],
      [
        'webhook.deliver',
        (e: ProcessingEvent) => e.reason === 'message.undelivered to endpoint ep_a: HTTP 200',
        'm-fo',
      ],
    ])('reports a missing `%s` event', (rule, drop, messageId) => {
      const report = checkPlanted((run) => {
        run.processingEvents = run.processingEvents.filter((e) => !drop(e));
      });
      expect(report.violations).toEqual([
        expect.objectContaining({ kind: 'processing_event_missing', rule, controllerId: 'acme', messageId }),
      ]);
    });

    it('takes the sweeper`s `send.reconcile` as the record of an interrupted send', () => {
      const report = checkPlanted((run) => {
        const send = run.processingEvents.find((e) => e.operation === 'send' && e.messageId === 'm-ok')!;
        send.operation = 'send.reconcile';
        send.outcome = 'failed';
      });
      expect(report.violations).toEqual([]);
    });

    it('reports an event republished under a new id (same content), once', () => {
      const report = checkPlanted((run) => {
        const route = run.processingEvents.find((e) => e.operation === 'route')!;
        run.processingEvents.push({ ...route, eventId: 'pe-copy' }, { ...route }); // and a true copy
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'event_id_changed',
          rule: 'route',
          messageId: 'm-ok',
          eventIds: [expect.any(String), 'pe-copy'],
        }),
      ]);
    });

    it('reports a once-only fact logged twice under two ids, even when the copies differ in time', () => {
      const report = checkPlanted((run) => {
        const send = run.processingEvents.find((e) => e.operation === 'send' && e.messageId === 'm-ok')!;
        run.processingEvents.push({ ...send, eventId: 'pe-resent', occurredAt: '2026-01-01T00:02:00.000Z' });
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'event_id_changed',
          rule: 'send',
          messageId: 'm-ok',
          eventIds: [expect.any(String), 'pe-resent'],
        }),
      ]);
    });

    it('reports any other event on the topic twice under two ids', () => {
      const report = checkPlanted((run) => {
        const failed = run.processingEvents.find((e) => e.outcome === 'failed')!;
        run.processingEvents.push({ ...failed, eventId: 'pe-twin' });
      });
      expect(report.violations).toEqual([
        expect.objectContaining({
          kind: 'event_id_changed',
          messageId: 'm-fo',
          detail: 'one `send` event (dispatcher) is on the topic under 2 event ids',
        }),
      ]);
      expect(report.violations[0]).not.toHaveProperty('rule');
    });

    it('applies only the rules it is given', () => {
      const report = checkPlanted(
        (run) => {
          run.processingEvents = run.processingEvents.filter((e) => e.operation !== 'route');
        },
        { processingRules: [] },
      );
      expect(report.violations).toEqual([]);
      expect(report.checked.processingRules).toEqual([]);
    });
  });

  it('reports records that did not decode', () => {
    const source = { topic: 't.us.sms.status.v1', partition: 0, offset: '12' };
    const report = checkInvariants({
      ...cleanRun(),
      undecodable: [{ source, reason: 'CONTRACT_INVALID: status' }],
    });
    expect(report.violations).toEqual([
      { kind: 'undecodable_record', source, detail: 't.us.sms.status.v1: CONTRACT_INVALID: status' },
    ]);
  });

  it('never puts a phone number or a body in a report', () => {
    const report = checkPlanted((run) => {
      run.requests.push({ controllerId: 'acme', messageId: 'm-lost' });
      run.carrierAcceptances.push(accepted('telnyx', 'm-ok'), accepted('twilio', 'm-sup'));
      run.webhooks.attempts.push(webhook('m-ok', 2, 'delivered', { webhookId: 'msg_other' }));
    });
    const kindsSeen = new Set<ViolationKind>(kinds(report));
    expect(kindsSeen).toEqual(
      new Set([
        'missing_terminal',
        'double_send',
        'sent_but_refused',
        'processing_event_missing',
        'webhook_id_changed',
      ]),
    );
    const text = JSON.stringify(report) + formatReport(report);
    expect(text).not.toContain(NUMBER.slice(1));
    expect(text).not.toContain('shipped');
  });

  it('formats a report for an assertion message: counts per kind, then the violations', () => {
    const report = checkPlanted((run) => {
      run.requests.push(
        { controllerId: 'acme', messageId: 'm-lost' },
        { controllerId: 'acme', messageId: 'm-lost2' },
      );
    });
    expect(formatReport(report, 1)).toBe(
      [
        '2 violations: missing_terminal 2',
        '- missing_terminal acme/m-lost: no status and no rejection',
        '… and 1 more',
      ].join('\n'),
    );
  });
});

describe('reading the evidence', () => {
  it('parses our callback URL, percent-encoded ids included, and nothing else', () => {
    expect(callbackTarget('https://x.test/base/receipts/telnyx/acme/m%3A1')).toEqual({
      carrier: 'telnyx',
      controllerId: 'acme',
      messageId: 'm:1',
    });
    expect(callbackTarget('https://x.test/receipts/telnyx/acme')).toBeUndefined();
    expect(callbackTarget('https://x.test/hooks/a/b/c')).toBeUndefined();
    expect(callbackTarget(undefined)).toBeUndefined();
  });

  it('reads a request`s ids when it has them, and its position always', () => {
    const at = { topic: REQUESTED, partition: 2, offset: '9', key: null, headers: {}, timestamp: '0' };
    expect(
      requestRefOf({ ...at, value: Buffer.from('{"controllerId":"acme","messageId":"m-1","to":5}') }),
    ).toEqual({
      controllerId: 'acme',
      messageId: 'm-1',
      source: { topic: REQUESTED, partition: 2, offset: '9' },
    });
    for (const value of [Buffer.from('not json'), Buffer.from('{"messageId":"m-1"}'), null])
      expect(requestRefOf({ ...at, value })).toEqual({
        source: { topic: REQUESTED, partition: 2, offset: '9' },
      });
  });

  it('names subscribed endpoints as the receiver knows them, leaving disabled ones out', () => {
    const endpoint = {
      endpointId: 'ep_a',
      controllerId: 'acme',
      url: 'http://127.0.0.1:4000/hooks/shop-a',
      eventTypes: ['message.delivered' as const],
      enabled: true,
      revision: 1,
      secrets: [],
      updatedAt: '2026-01-01T00:00:00.000Z',
    };
    expect(
      subscriptionsOf([
        endpoint,
        { ...endpoint, endpointId: 'ep_off', enabled: false },
        { ...endpoint, endpointId: 'ep_elsewhere', url: 'https://shop.test/webhooks' },
      ]),
    ).toEqual([
      {
        receiverEndpoint: 'shop-a',
        endpointId: 'ep_a',
        controllerId: 'acme',
        eventTypes: ['message.delivered'],
      },
    ]);
  });
});

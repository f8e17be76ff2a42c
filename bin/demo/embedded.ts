// `npm start` / `massivesms demo`: every service in one process on the in-memory bus and PGlite,
// driving a demo campaign for two controllers (one per cell), with a progress bar and a summary.
import { type Audit, auditCheckpointSigner, defaultAuditOrigin, startAudit } from '@massivesms/audit/audit';
import { verifyExport } from '@massivesms/audit/bundle';
import { LedgerExports } from '@massivesms/audit/exports';
import { buildAuditHttp } from '@massivesms/audit/http';
import { ledgerInternalRoutes } from '@massivesms/audit/http/internal';
import { verifyLedger } from '@massivesms/audit/ledger';
import { MemoryBus } from '@massivesms/bus-memory';
import {
  type Cell,
  cells,
  cellTopics,
  controllerStateSchema,
  encodeJson,
  rejectionSchema,
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import { type Control, createControl } from '@massivesms/control/control';
import { createPgliteDb, type Db } from '@massivesms/db';
import {
  type Dispatcher,
  RateLimits,
  reconcilePolicy,
  startDispatcher,
} from '@massivesms/dispatcher/dispatcher';
import { telnyxCarrier } from '@massivesms/dispatcher/telnyx';
import { twilioCarrier } from '@massivesms/dispatcher/twilio';
import {
  generateMasterKey,
  Keyring,
  LocalKms,
  pseudonymise,
  toControllerId,
  toE164,
  toWrappedKey,
} from '@massivesms/privacy';
import { type Router, startRouter } from '@massivesms/router/router';
import { createLogger } from '@massivesms/telemetry';
import {
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '@massivesms/testkit/carriers';
import { startWebhookReceiver } from '@massivesms/testkit/receiver';
import { PgCommandStore } from '@massivesms/webhooks/command-store';
import { buildWebhooksHttp } from '@massivesms/webhooks/http';
import { deliveryInternalRoutes } from '@massivesms/webhooks/http/internal';
import { WebhookRecovery } from '@massivesms/webhooks/recovery';
import { startWebhooks, type Webhooks } from '@massivesms/webhooks/webhooks';
import { SingleBar } from 'cli-progress';
import { Registry } from 'prom-client';
import { campaign, controllers, optedOut } from './campaign.ts';
import { StatusTally } from './tally.ts';

export interface DemoOptions {
  readonly messages: number;
  readonly json: boolean;
}

/** The demo's summary (DESIGN.md §9 keys; later services add theirs). */
export interface DemoSummary {
  requested: number;
  accepted: number;
  rejected: Record<string, number>;
  suppressed: number;
  expired: number;
  /** Messages the carriers accepted, per carrier. */
  sent: Record<string, number>;
  /** Messages Telnyx refused during its outage that Twilio took instead. */
  failovers: number;
  /** Sends whose carrier call ended without an answer (`unknown`), reconciled from the receipt. */
  ambiguous: number;
  breakerTransitions: number;
  delivered: number;
  /** Accepted messages that ended otherwise: the carrier said undelivered, or sending failed (reconciliation included). */
  undelivered: number;
  failed: number;
  /** Signed webhooks to the controllers' endpoints, as the local receiver verified them. */
  webhooks: { delivered: number; retried: number; deadLettered: number; signatureFailures: number };
  /**
   * The DPA audit trail: processing events appended to the cells' ledgers, and whether every ledger
   * (chain, signed checkpoints) and one controller's export verified.
   */
  audit: { events: number; checkpoints: number; verified: boolean; exportedEntries: number };
  durationSeconds: number;
}

/** The statuses the demo endpoints subscribe to: one webhook per message, when it ends. */
const FINAL_EVENTS = [
  'message.delivered',
  'message.undelivered',
  'message.failed',
  'message.rejected',
  'message.suppressed',
  'message.expired',
] as const;

interface CellRuntime {
  cell: Cell;
  db: Db;
  kms: LocalKms;
  control: Control;
  controlUrl: string;
  /** The webhooks and audit services' HTTP servers (internal routes). */
  servers: readonly { close(): Promise<unknown> }[];
  router: Router;
  dispatcher: Dispatcher;
  webhooks: Webhooks;
  audit: Audit;
  telnyx: TelnyxSimulator;
  twilio: TwilioSimulator;
}

const OPERATOR = `demo-operator-${'x'.repeat(24)}`;
/** Bound on one carrier call in the demo. */
const CARRIER_TIMEOUT_MS = 5_000;

/** Runs the embedded demo and returns its summary. */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = performance.now();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const log = createLogger({ service: 'demo', level: 'warn', destination: process.stderr });
  const bus = new MemoryBus();
  for (const cell of cells)
    for (const t of cellTopics(cell, { partitions: 3 })) bus.createTopic(t.fullName, t.partitions);

  // Progress is counted as statuses arrive, not by re-reading the topics.
  const tally = new StatusTally(
    FINAL_EVENTS.map((t) => t.slice('message.'.length)),
    controllers.map((c) => c.id),
  );
  await bus.readFromStart({
    topics: cells.map((cell) => topicFor(cell, 'sms.status.v1')),
    onRecords: (records) => tally.add(records),
  });
  let processed = 0;
  let breakerTransitions = 0;
  let usTelnyxOpened = false;
  // The controllers' webhook endpoints: a local receiver that verifies every signature.
  const receiver = await startWebhookReceiver();
  const runtimes: CellRuntime[] = [];
  for (const cell of cells) {
    const db = await createPgliteDb();
    const kms = new LocalKms(generateMasterKey());
    // The ledger first: it records everything the other services do from the start.
    const audit = await startAudit({
      cell,
      bus,
      db,
      kms,
      log,
      registry: new Registry(),
      checkpointIntervalMs: 1_000,
    });
    // The webhooks and audit services' HTTP servers, with the internal routes the control API reads.
    const webhooksHttp = buildWebhooksHttp({ ready: () => true, metrics: new Registry() });
    await webhooksHttp.register(deliveryInternalRoutes, {
      deliveries: new WebhookRecovery(db),
      commands: new PgCommandStore(db),
    });
    const auditHttp = buildAuditHttp({ ready: () => audit.ready(), metrics: new Registry() });
    await auditHttp.register(ledgerInternalRoutes, {
      exports: new LedgerExports(db, await auditCheckpointSigner(kms, defaultAuditOrigin(cell)), { cell }),
    });
    const control = await createControl({
      cell,
      db,
      bus,
      kms,
      log,
      operatorToken: OPERATOR,
      webhookAllowList: ['127.0.0.1'],
      webhooksUrl: await webhooksHttp.listen({ port: 0, host: '127.0.0.1' }),
      auditUrl: await auditHttp.listen({ port: 0, host: '127.0.0.1' }),
    });
    const controlUrl = await control.listen(0, '127.0.0.1');
    const router = await startRouter({
      cell,
      bus,
      db,
      kms,
      log,
      registry: new Registry(),
      onBatch: (o) => {
        processed +=
          o.dispatched +
          o.suppressed +
          o.expired +
          o.duplicates +
          Object.values(o.rejected).reduce((a, b) => a + b, 0);
      },
    });
    // Each cell has its own carrier accounts and hosts (here: its own pair of simulators).
    const telnyx = await startTelnyxSimulator({ apiKey: `KEY_${cell}` });
    const twilio = await startTwilioSimulator({
      accountSid: `AC${cell === 'us' ? '1' : '2'}${'0'.repeat(31)}`,
      authToken: `tok-${cell}`,
    });
    const dispatcher = await startDispatcher({
      cell,
      bus,
      db,
      kms,
      log,
      ingress: {
        telnyxPublicKey: telnyx.publicKey,
        twilioAuthToken: `tok-${cell}`,
        port: 0,
        host: '127.0.0.1',
      },
      carriers: {
        // Long enough that only the planted unanswered send times out, even on a starved machine
        // (a CI runner sharing its cores): a timed-out call is an ambiguous send, never resent.
        telnyx: telnyxCarrier({
          apiKey: `KEY_${cell}`,
          baseUrl: telnyx.baseUrl,
          timeoutMs: CARRIER_TIMEOUT_MS,
        }),
        twilio: twilioCarrier({
          accountSid: `AC${cell === 'us' ? '1' : '2'}${'0'.repeat(31)}`,
          authToken: `tok-${cell}`,
          baseUrl: twilio.baseUrl,
          timeoutMs: CARRIER_TIMEOUT_MS,
        }),
      },
      // Simulated accounts: the demo is not throttled like a real 10DLC sender.
      rateLimits: new RateLimits({
        accountPerSecond: { telnyx: 10_000, twilio: 10_000 },
        senderPerSecond: { e164: 10_000, short_code: 10_000, alphanumeric: 10_000 },
      }),
      // Everything happens within seconds here: a low threshold lets the short outage open the breaker.
      breaker: { volumeThreshold: 5, errorThresholdPercentage: 10, resetTimeoutMs: 500 },
      onBreakerChange: (carrier, state) => {
        breakerTransitions++;
        if (cell === 'us' && carrier === 'telnyx' && state === 'open') usTelnyxOpened = true;
      },
      // The documented policy for outcomes nobody reported, on a demo's time scale: a send still
      // unanswered after 20 s (its call is bounded at 5 s, twice with failover) becomes `unknown`, and
      // `failed` after 15 s more without a receipt; an accepted message without its final receipt is
      // looked up at the carrier after 5 s and closed as unconfirmed after 30 s.
      reconcile: reconcilePolicy({
        sendingTimeoutMs: 20_000,
        quarantineMs: 15_000,
        receiptDeadlineMs: 5_000,
        finaliseAfterMs: 30_000,
      }),
    });
    const webhooks = await startWebhooks({
      cell,
      bus,
      db,
      kms,
      log,
      ssrf: { allowList: ['127.0.0.1'] },
      worker: { pollMs: 200, perEndpointConcurrency: 16, perEndpointRatePerSecond: 10_000 },
    });
    runtimes.push({
      cell,
      db,
      kms,
      control,
      controlUrl,
      servers: [webhooksHttp, auditHttp],
      router,
      dispatcher,
      webhooks,
      audit,
      telnyx,
      twilio,
    });
  }
  say(
    `embedded mode: in-memory bus, PGlite, control API at ${runtimes.map((r) => `${r.cell} ${r.controlUrl}`).join(', ')}`,
  );

  // Onboard the controllers through the control API, as their admins would.
  const call = async (url: string, method: string, path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  for (const c of controllers) {
    const rt = runtimes.find((r) => r.cell === c.region)!;
    await call(rt.controlUrl, 'POST', '/v1/controllers', { id: c.id, name: c.name, region: c.region });
    await call(rt.controlUrl, 'POST', `/v1/controllers/${c.id}/instructions`, c.instruction);
    // Its admin registers a webhook endpoint; the first controller's endpoint fails each first attempt.
    const { secret } = (await call(rt.controlUrl, 'POST', `/v1/controllers/${c.id}/endpoints`, {
      url: `${receiver.origin}/hooks/${c.id}`,
      eventTypes: FINAL_EVENTS,
    })) as { secret: string };
    receiver.endpoint(c.id, {
      secrets: [secret],
      ...(c === controllers[0] ? { behaviour: { failFirst: 1 } } : {}),
    });
  }

  // One recipient per controller texted STOP before the campaign (as the dispatcher will report it).
  for (const c of controllers) {
    const rt = runtimes.find((r) => r.cell === c.region)!;
    const keys = await waitForKeys(bus, rt, c.id);
    const event = {
      controllerId: c.id,
      subjectPseudonym: pseudonymise(keys, toE164(optedOut(c))),
      kind: 'opt_out' as const,
      active: true,
      source: 'telnyx.inbound',
      occurredAt: new Date().toISOString(),
    };
    await bus.producer().send([
      {
        topic: topicFor(c.region, 'suppressions.v1'),
        key: suppressionKey(event),
        value: encodeJson(suppressionEventSchema, event),
      },
    ]);
    await until(
      async () => (await rt.db.query('SELECT 1 FROM router_suppressions WHERE active')).rowCount > 0,
    );
  }

  // The campaign, as the campaign API writes it to each cell's request topic.
  const records = campaign(options.messages, new Date());
  const bar = options.json
    ? undefined
    : new SingleBar({
        format: 'routing  [{bar}] {value}/{total} requests  {duration}s',
        hideCursor: true,
        stream: process.stderr,
      });
  bar?.start(records.length, 0);
  for (let i = 0; i < records.length; i += 100) {
    const chunk = records.slice(i, i + 100);
    await bus
      .producer()
      .send(chunk.map((r) => ({ topic: topicFor(r.cell, 'sms.requested.v1'), key: null, value: r.value })));
  }
  await until(async () => {
    bar?.update(Math.min(processed, records.length));
    return processed >= records.length;
  });
  bar?.update(records.length);
  bar?.stop();

  // Dispatch, with a Telnyx outage in the US cell while a third of its messages go out: the breaker
  // opens and Twilio takes them; then Telnyx recovers. Wait for every carrier receipt. The outage
  // follows the US cell's own progress and lasts until the breaker has opened, however the two cells'
  // dispatchers happen to interleave.
  const us = runtimes.find((r) => r.cell === 'us')!;
  const eu = runtimes.find((r) => r.cell === 'eu')!;
  let outage = 'before' as 'before' | 'during' | 'after';
  let ambiguityPlanted = false;
  // Every accepted message ends in exactly one terminal status: delivered, or what the carrier or the
  // reconciliation policy says. The wait fails only if nothing at all moves for a minute.
  await until(
    async () => {
      const inUs = { accepted: tally.accepted('us'), sent: tally.queued('us') };
      if (outage === 'before' && inUs.accepted > 0 && inUs.sent >= inUs.accepted * 0.2) {
        us.telnyx.faults.always({ status5xx: 503 });
        outage = 'during';
        say('telnyx (us): outage begins');
      } else if (outage === 'during' && inUs.sent >= inUs.accepted * 0.55 && usTelnyxOpened) {
        us.telnyx.faults.always(null);
        outage = 'after';
        say('telnyx (us): recovered');
      }
      // In the EU cell, one send is accepted by Telnyx but never answered: its outcome is ambiguous
      // (`unknown`, never resent) until the receipt carrying our id reconciles it.
      if (!ambiguityPlanted && tally.queued('eu') >= tally.accepted('eu') * 0.1 && tally.accepted('eu') > 0) {
        eu.telnyx.faults.configure({ next: [{ timeoutAfterAccept: true }] });
        ambiguityPlanted = true;
        say('telnyx (eu): one send accepted but never answered (an ambiguous outcome)');
      }
      return tally.unfinished() === 0;
    },
    () => tally.seen,
  );
  if (outage === 'during') us.telnyx.faults.always(null);

  // Every message's final status reaches its controller's endpoint, signed (retried where it failed).
  if (!options.json) say('webhooks: delivering final statuses (one endpoint fails each first attempt)');
  await until(
    async () => (receiver.summary().delivered ?? 0) >= tally.webhooksOwed(),
    () => receiver.summary().delivered ?? 0,
  );
  const summary = summarise(bus, tally, records.length, (performance.now() - started) / 1000);
  summary.breakerTransitions = breakerTransitions;
  let retried = 0;
  let deadLettered = 0;
  for (const rt of runtimes) {
    const { rows } = await rt.db.query<{ retried: string; dead: string }>(
      `SELECT count(*) FILTER (WHERE attempts > 1) AS retried, count(*) FILTER (WHERE state = 'dead') AS dead
         FROM webhook_deliveries`,
    );
    retried += Number(rows[0]?.retried ?? 0);
    deadLettered += Number(rows[0]?.dead ?? 0);
  }
  const received = receiver.summary();
  summary.webhooks = {
    delivered: received.delivered,
    retried,
    deadLettered,
    signatureFailures: received.signatureFailures,
  };
  if (!options.json) say("audit: verifying each cell's ledger and one controller's export");
  summary.audit = await verifyAudit(bus, runtimes);
  for (const rt of runtimes) {
    await rt.audit.stop();
    await rt.webhooks.stop();
    await rt.dispatcher.stop();
    await rt.telnyx.close();
    await rt.twilio.close();
    await rt.router.stop();
    await rt.control.close();
    for (const server of rt.servers) await server.close();
    await rt.db.close();
  }
  await receiver.close();
  await bus.close();
  return summary;
}

/**
 * Waits until each cell's ledger holds every processing event produced so far, signs a checkpoint,
 * verifies the ledger (chain and signed checkpoints, with the published key) and, as an auditor
 * would, downloads the first controller's export from the control API and verifies it offline.
 */
async function verifyAudit(bus: MemoryBus, runtimes: readonly CellRuntime[]): Promise<DemoSummary['audit']> {
  const result = { events: 0, checkpoints: 0, verified: true, exportedEntries: 0 };
  for (const rt of runtimes) {
    const produced = new Set(
      bus
        .records(topicFor(rt.cell, 'audit.processing.v1'))
        .map((r) => (JSON.parse(r.value!.toString()) as { eventId: string }).eventId),
    ).size;
    let appended = 0;
    await until(
      async () => {
        appended = Number(
          (await rt.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_ledger')).rows[0]!.n,
        );
        return appended >= produced;
      },
      () => appended,
    );
    await rt.audit.checkpoint();
    const verified = await verifyLedger(rt.db, { keys: [rt.audit.verifierKey] });
    result.events += verified.ok ? verified.count : 0;
    result.checkpoints += verified.ok ? verified.checkpoints : 0;
    result.verified &&= verified.ok;
  }
  const first = controllers[0]!;
  const rt = runtimes.find((r) => r.cell === first.region)!;
  const res = await fetch(`${rt.controlUrl}/v1/controllers/${first.id}/audit-export`, {
    headers: { authorization: `Bearer ${OPERATOR}` },
  });
  const exported = verifyExport(new Uint8Array(await res.arrayBuffer()), {
    trustedKey: rt.audit.verifierKey,
  });
  result.verified &&= res.ok && exported.ok;
  result.exportedEntries = exported.ok ? exported.manifest.entries : 0;
  return result;
}

/** The controller's pseudonym key, as any service gets it: from controllers.v1, unwrapped by the KMS. */
async function waitForKeys(bus: MemoryBus, rt: CellRuntime, controllerId: string) {
  let wrapped: { dataKey: string; pseudonymKey: string } | undefined;
  await until(async () => {
    const records = bus.records(topicFor(rt.cell, 'controllers.v1')).filter((r) => r.key === controllerId);
    const latest = records.at(-1);
    wrapped = latest ? controllerStateSchema.parse(JSON.parse(latest.value!.toString())).keys : undefined;
    return wrapped !== undefined;
  });
  const store = {
    get: async () => ({
      status: 'active' as const,
      keys: { dataKey: toWrappedKey(wrapped!.dataKey), pseudonymKey: toWrappedKey(wrapped!.pseudonymKey) },
    }),
    insert: async () => false,
    destroy: async () => {},
  };
  return (await new Keyring({ kms: rt.kms, store }).get(toControllerId(controllerId))).pseudonymKey;
}

/**
 * Waits until `check` holds. Bounded by progress, not by size: it gives up when `progress` (a count
 * that grows as work gets done) has not moved for `stallMs`, so a large run is never cut short and
 * a stuck one never waits forever.
 */
async function until(
  check: () => Promise<boolean>,
  progress: () => number = () => 0,
  stallMs = 60_000,
): Promise<void> {
  let last = progress();
  let movedAt = Date.now();
  while (!(await check())) {
    const now = progress();
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > stallMs)
      throw new Error(`the demo made no progress for ${stallMs / 1000} s and stopped waiting`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function summarise(
  bus: MemoryBus,
  tally: StatusTally,
  requested: number,
  durationSeconds: number,
): DemoSummary {
  const summary: DemoSummary = {
    requested,
    accepted: tally.accepted(),
    rejected: {},
    suppressed: tally.count('suppressed'),
    expired: tally.count('expired'),
    sent: tally.sentPerCarrier(),
    failovers: 0,
    ambiguous: 0,
    breakerTransitions: 0,
    delivered: tally.count('delivered'),
    undelivered: tally.count('undelivered'),
    failed: tally.count('failed'),
    webhooks: { delivered: 0, retried: 0, deadLettered: 0, signatureFailures: 0 },
    audit: { events: 0, checkpoints: 0, verified: false, exportedEntries: 0 },
    durationSeconds: 0,
  };
  // Read once, at the end: a failover is a Telnyx attempt that failed for a message Twilio took; an
  // ambiguous send is one whose carrier call ended without an answer.
  const failedOver = new Set<string>();
  const ambiguous = new Set<string>();
  for (const cell of cells) {
    for (const r of bus.records(topicFor(cell, 'audit.processing.v1'))) {
      const event = JSON.parse(r.value!.toString()) as {
        operation: string;
        subprocessor?: string;
        outcome: string;
        controllerId: string;
        messageId?: string;
        reason?: string;
      };
      if (
        event.operation === 'send' &&
        event.subprocessor === 'telnyx' &&
        event.outcome === 'failed' &&
        event.messageId &&
        tally.carrierOf(event.controllerId, event.messageId) === 'twilio'
      )
        failedOver.add(`${event.controllerId}:${event.messageId}`);
      if (
        event.operation === 'send' &&
        event.outcome === 'failed' &&
        event.reason === 'CARRIER_RESPONSE_TIMEOUT'
      )
        ambiguous.add(`${event.controllerId}:${event.messageId}`);
    }
    for (const r of bus.records(topicFor(cell, 'sms.rejected.v1'))) {
      const rejection = rejectionSchema.parse(JSON.parse(r.value!.toString()));
      summary.rejected[rejection.code] = (summary.rejected[rejection.code] ?? 0) + 1;
    }
  }
  summary.failovers = failedOver.size;
  summary.ambiguous = ambiguous.size;
  summary.durationSeconds = Number(durationSeconds.toFixed(2));
  return summary;
}

/** A human-readable summary table. */
export function formatSummary(s: DemoSummary): string {
  const rows: [string, string | number][] = [
    ['requested', s.requested],
    ['accepted (dispatched)', s.accepted],
    ...Object.entries(s.rejected)
      .sort()
      .map(([code, n]): [string, number] => [`rejected: ${code}`, n]),
    ['suppressed (opted out)', s.suppressed],
    ['expired', s.expired],
    ...Object.entries(s.sent)
      .sort()
      .map(([carrier, n]): [string, number] => [`sent via ${carrier}`, n]),
    ['failovers (Telnyx refused → Twilio)', s.failovers],
    ['ambiguous sends (reconciled, never resent)', s.ambiguous],
    ['breaker transitions', s.breakerTransitions],
    ['delivered (signed receipts)', s.delivered],
    ['undelivered', s.undelivered],
    ['failed (carrier or reconciliation)', s.failed],
    ['webhooks delivered (verified)', s.webhooks.delivered],
    ['webhooks retried', s.webhooks.retried],
    ['webhooks dead-lettered', s.webhooks.deadLettered],
    ['webhook signature failures', s.webhooks.signatureFailures],
    [
      'audit ledger',
      `${s.audit.events} events, ${s.audit.checkpoints} signed checkpoints, ${
        s.audit.verified
          ? `verified (and an export of ${s.audit.exportedEntries} entries)`
          : 'VERIFICATION FAILED'
      }`,
    ],
    ['duration', `${s.durationSeconds} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', 'Demo summary', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ''].join('\n');
}

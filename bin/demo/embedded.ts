// `npm start` / `massivesms demo`: every service in one process on the in-memory bus and PGlite,
// driving a demo campaign for two controllers (one per cell). It tells the run as a story (a progress
// bar per stage, outages and breaker changes per cell; the services' logs go to a file) and ends with
// a summary whose figures add up (summary.ts).
import { createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  suppressionEventSchema,
  suppressionKey,
  topicFor,
} from '@massivesms/contracts';
import { type Control, createControl } from '@massivesms/control/control';
import { createPgliteThreadDb, type Db } from '@massivesms/db';
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
import { Registry } from 'prom-client';
import { campaignRecords, controllers, optedOut } from './campaign.ts';
import { type Stage, type StageProgress, Story } from './story.ts';
import { type BreakerStates, type CellFigures, type DemoSummary, totalFigures } from './summary.ts';
import { DemoTally } from './tally.ts';

export interface DemoOptions {
  readonly messages: number;
  /** --json: no story on stdout (the caller prints the summary as JSON). */
  readonly json: boolean;
  /** Where the story goes (stdout). */
  readonly out: NodeJS.WriteStream;
  /** Where the services' JSON log lines go. */
  readonly logFile: string;
}

/** A finished demo whose services still run (--keep-running): how to reach them, and how to stop them. */
export interface RunningDemo {
  readonly summary: DemoSummary;
  /** What to call, with the token: curl lines. */
  readonly howToCall: string;
  /** Stops every service, bounded. */
  stop(): Promise<void>;
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
/** The reconciliation policy on the demo's time scale (see startDispatcher below). */
const RECONCILE = {
  sendingTimeoutMs: 20_000,
  quarantineMs: 15_000,
  receiptDeadlineMs: 5_000,
  finaliseAfterMs: 30_000,
};
/**
 * How long a wait may see nothing move before it gives up: longer than the quiet spells the policy
 * allows (an unanswered send becomes `unknown` after 20 s and `failed` 15 s later; an accepted message
 * without its receipt is looked up after 5 s and closed 30 s later), all four added, plus a margin
 * for a starved machine. It was 60 s, shorter than those, so a slow run could give up while it was waiting for them.
 */
const STALL_MS =
  RECONCILE.sendingTimeoutMs +
  RECONCILE.quarantineMs +
  RECONCILE.receiptDeadlineMs +
  RECONCILE.finaliseAfterMs +
  30_000;
/** The webhooks wait may see nothing move until a third attempt's slot: 5 min + 20 % jitter, and a margin. */
const WEBHOOK_STALL_MS = 5 * 60_000 * 1.2 + 60_000;
/** Bound on one carrier call in the demo. */
const CARRIER_TIMEOUT_MS = 5_000;

/** Runs the embedded demo, telling it on `options.out`, and returns its summary with the services stopped. */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const demo = await startDemo(options);
  await demo.stop();
  return demo.summary;
}

/** Runs the embedded demo to its summary and leaves every service running until `stop()`. */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const started = performance.now();
  const startedAt = new Date();
  const story = new Story({ out: options.out, quiet: options.json });
  // The services' JSON log lines go to a file (the summary names it), never among the story's lines.
  const logFile = options.logFile;
  const logStream = createWriteStream(logFile);
  const rootLog = createLogger({ service: 'demo', level: 'info', destination: logStream });
  const bus = new MemoryBus();
  for (const cell of cells)
    for (const t of cellTopics(cell, { partitions: 3 }))
      bus.createTopic(t.fullName, t.partitions, { cleanupPolicy: t.cleanupPolicy });

  // Progress is counted as records arrive (each folded once), never by re-reading the topics.
  const tally = new DemoTally(controllers.map((c) => c.id));
  const readers = [
    await bus.readFromStart({
      topics: cells.map((cell) => topicFor(cell, 'sms.status.v1')),
      onRecords: (records) => tally.addStatuses(records),
    }),
    await bus.readFromStart({
      topics: cells.map((cell) => topicFor(cell, 'sms.rejected.v1')),
      onRecords: (records) => tally.addRejections(records),
    }),
    ...(await Promise.all(
      cells.map((cell) =>
        bus.readFromStart({
          topics: [topicFor(cell, 'audit.processing.v1')],
          onRecords: (records) => tally.addProcessing(cell, records),
        }),
      ),
    )),
  ];
  const routed = Object.fromEntries(cells.map((c) => [c, 0])) as Record<Cell, number>;
  const breakers = Object.fromEntries(
    cells.map((c) => [c, { telnyx: 'closed', twilio: 'closed' }]),
  ) as Record<Cell, BreakerStates>;
  const transitions = Object.fromEntries(cells.map((c) => [c, 0])) as Record<Cell, number>;
  /** Failed carrier calls per cell and carrier since its breaker last changed state. */
  const failedCalls = Object.fromEntries(cells.map((c) => [c, { telnyx: 0, twilio: 0 }])) as Record<
    Cell,
    { telnyx: number; twilio: number }
  >;
  /** Of those, the calls that timed out. */
  const timedOutCalls = Object.fromEntries(cells.map((c) => [c, { telnyx: 0, twilio: 0 }])) as Record<
    Cell,
    { telnyx: number; twilio: number }
  >;
  const count = (cell: Cell, carrier: 'telnyx' | 'twilio', timedOut: boolean) => {
    failedCalls[cell][carrier]++;
    if (timedOut) timedOutCalls[cell][carrier]++;
  };
  /** Half-open tests that failed since each breaker last closed. */
  const failedTests = Object.fromEntries(cells.map((c) => [c, { telnyx: 0, twilio: 0 }])) as Record<
    Cell,
    { telnyx: number; twilio: number }
  >;
  let usTelnyxOpened = false;
  // The controllers' webhook endpoints: a local receiver that verifies every signature. Its records
  // are folded into these counts and dropped as they arrive, so they do not pile up.
  const receiver = await startWebhookReceiver();
  const webhookIds = new Map<string, Set<string>>(controllers.map((c) => [c.id, new Set<string>()]));
  let signatureFailures = Object.fromEntries(controllers.map((c) => [c.id, 0])) as Record<string, number>;
  const drainReceiver = () => {
    const batch = receiver.summary();
    for (const r of receiver.received)
      if (r.status >= 200 && r.status < 300) webhookIds.get(r.endpoint)?.add(r.webhookId);
    for (const [name, counts] of Object.entries(batch.byEndpoint))
      signatureFailures = {
        ...signatureFailures,
        [name]: (signatureFailures[name] ?? 0) + counts.signatureFailures,
      };
    receiver.clear();
  };
  const webhooksDelivered = () => [...webhookIds.values()].reduce((n, ids) => n + ids.size, 0);
  story.say(
    `MassiveSMS demo, embedded mode: every service in this process on an in-memory bus and PGlite (one per cell, on its own thread); two cells (${cells.join(', ')}), one controller each, simulated carriers, a local webhook endpoint. Starting…`,
  );
  const runtimes: CellRuntime[] = [];
  // The cells' databases live on disk (removed at stop, or at exit if the run fails or is
  // interrupted): in memory they would grow with the campaign.
  const dataRoot = await mkdtemp(join(tmpdir(), 'massivesms-demo-data-'));
  const removeData = () => rmSync(dataRoot, { recursive: true, force: true });
  process.once('exit', removeData);
  for (const cell of cells) {
    const log = rootLog.child({ cell });
    // Each cell's PostgreSQL on its own thread: in this thread its statements would block every
    // service's event loop (carrier calls timed out and breakers flapped on a busy machine).
    const db = await createPgliteThreadDb({ dataDir: join(dataRoot, cell) });
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
        routed[cell] +=
          o.dispatched +
          o.suppressed +
          o.expired +
          o.duplicates +
          Object.values(o.rejected).reduce((a, b) => a + b, 0);
      },
    });
    // Each cell has its own carrier accounts and hosts (here: its own pair of simulators).
    // Keep the newest 20,000 messages per simulator (counts stay totals): flat memory over 100,000 sends.
    const telnyx = await startTelnyxSimulator({ apiKey: `KEY_${cell}`, retainMessages: 20_000 });
    const twilio = await startTwilioSimulator({
      accountSid: `AC${cell === 'us' ? '1' : '2'}${'0'.repeat(31)}`,
      authToken: `tok-${cell}`,
      retainMessages: 20_000,
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
        telnyx: countingFailures(
          telnyxCarrier({ apiKey: `KEY_${cell}`, baseUrl: telnyx.baseUrl, timeoutMs: CARRIER_TIMEOUT_MS }),
          (timedOut) => count(cell, 'telnyx', timedOut),
        ),
        twilio: countingFailures(
          twilioCarrier({
            accountSid: `AC${cell === 'us' ? '1' : '2'}${'0'.repeat(31)}`,
            authToken: `tok-${cell}`,
            baseUrl: twilio.baseUrl,
            timeoutMs: CARRIER_TIMEOUT_MS,
          }),
          (timedOut) => count(cell, 'twilio', timedOut),
        ),
      },
      // Simulated accounts: the demo is not throttled like a real 10DLC sender.
      rateLimits: new RateLimits({
        accountPerSecond: { telnyx: 10_000, twilio: 10_000 },
        senderPerSecond: { e164: 10_000, short_code: 10_000, alphanumeric: 10_000 },
      }),
      // Everything happens within seconds here: a low threshold lets the short outage open the breaker.
      breaker: { volumeThreshold: 5, errorThresholdPercentage: 10, resetTimeoutMs: 500 },
      onBreakerChange: (carrier, state) => {
        transitions[cell]++;
        const previous = breakers[cell][carrier];
        breakers[cell][carrier] = state;
        if (cell === 'us' && carrier === 'telnyx' && state === 'open') usTelnyxOpened = true;
        const failures = failedCalls[cell][carrier];
        const timedOut = timedOutCalls[cell][carrier];
        failedCalls[cell][carrier] = 0;
        timedOutCalls[cell][carrier] = 0;
        // During an outage the breaker tests the carrier again and again (half-open, the test fails,
        // open): the story tells the first test, counts the rest and says how many when it closes.
        const tests = failedTests[cell];
        if (state === 'open' && previous === 'half_open') {
          tests[carrier]++;
          if (tests[carrier] === 1)
            story.event(
              cell,
              `${carrier} breaker opened again: its test message failed (later tests are counted, not shown)`,
            );
          return;
        }
        if (state === 'half_open') {
          if (tests[carrier] === 0)
            story.event(cell, `${carrier} breaker half-open — the next message tests ${carrier}`);
          return;
        }
        if (state === 'closed') {
          const failedBefore = tests[carrier];
          tests[carrier] = 0;
          story.event(
            cell,
            `${carrier} breaker closed — ${carrier} takes messages again${
              failedBefore > 1 ? ` (after ${failedBefore} failed tests)` : ''
            }`,
          );
          return;
        }
        const other = carrier === 'telnyx' ? 'twilio' : 'telnyx';
        story.event(
          cell,
          `${carrier} breaker opened after ${failures} failed call${failures === 1 ? '' : 's'}${
            timedOut > 0 ? ` (${timedOut === failures ? 'all' : timedOut} timed out)` : ''
          } — ${breakers[cell][other] === 'open' ? `${other}'s is open too: messages wait` : `failing over to ${other}`}`,
        );
      },
      // The documented policy for outcomes nobody reported, on a demo's time scale: a send still
      // unanswered after 20 s (its call is bounded at 5 s, twice with failover) becomes `unknown`, and
      // `failed` after 15 s more without a receipt; an accepted message without its final receipt is
      // looked up at the carrier after 5 s and closed as unconfirmed after 30 s.
      reconcile: reconcilePolicy(RECONCILE),
    });
    const webhooks = await startWebhooks({
      cell,
      bus,
      db,
      kms,
      log,
      ssrf: { allowList: ['127.0.0.1'] },
      // One local endpoint per controller: 64 deliveries in flight let the results share statements
      // (with 16, a 100,000-message run's webhooks fell behind its dispatch at ~15/s per cell).
      worker: { pollMs: 200, perEndpointConcurrency: 64, perEndpointRatePerSecond: 10_000 },
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
  story.say(
    `services up in ${story.elapsed.toFixed(1)} s; control API at ${runtimes.map((r) => `${r.cell} ${r.controlUrl}`).join(', ')}`,
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

  // The campaign, as the campaign API writes it to each cell's request topic, produced in chunks.
  const requested = Object.fromEntries(cells.map((c) => [c, 0])) as Record<Cell, number>;
  const ledgerRows = Object.fromEntries(cells.map((c) => [c, 0])) as Record<Cell, number>;
  const endpointsPerController = 1;
  let produced = 0;
  let auditDone = false;
  const values = (): Record<Stage, StageProgress> => {
    const accepted = tally.total((c) => c.statuses.accepted);
    return {
      routing: { value: cells.reduce((n, c) => n + routed[c], 0), total: options.messages },
      dispatch: { value: tally.total((c) => c.dispatched), total: accepted },
      receipts: { value: tally.total((c) => c.finished), total: accepted },
      webhooks: {
        value: webhooksDelivered(),
        total: tally.total((c) => c.finalStatuses) * endpointsPerController,
      },
      audit: {
        value: cells.reduce((n, c) => n + ledgerRows[c], 0),
        total: tally.total((c) => c.auditEvents),
      },
    };
  };
  // The audit bar reads each ledger's size now and then (one count per cell), not every tick.
  let ledgerReadAt = 0;
  const readLedgers = async () => {
    for (const rt of runtimes)
      ledgerRows[rt.cell] = Number(
        (await rt.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_ledger')).rows[0]!.n,
      );
  };
  /** One tick: fold the receiver's records, read the ledgers (every second), redraw. */
  const tick = async () => {
    drainReceiver();
    if (!auditDone && performance.now() - ledgerReadAt > 1_000) {
      ledgerReadAt = performance.now();
      await readLedgers();
    }
    story.progress(values());
  };
  const progressed = () => tally.seen + webhooksDelivered() + produced;

  const campaignStarted = performance.now();
  story.startClock();
  const now = new Date();
  for (let i = 0; i < options.messages; i += 500) {
    const chunk = campaignRecords(i, Math.min(i + 500, options.messages), now);
    for (const r of chunk) requested[r.cell]++;
    await bus
      .producer()
      .send(chunk.map((r) => ({ topic: topicFor(r.cell, 'sms.requested.v1'), key: null, value: r.value })));
    produced += chunk.length;
    await tick();
  }
  await until(async () => {
    await tick();
    return cells.reduce((n, c) => n + routed[c], 0) >= options.messages;
  }, progressed);
  story.complete('routing', values().routing);

  // Dispatch, with a Telnyx outage in the US cell while a third of its messages go out: the breaker
  // opens and Twilio takes them; then Telnyx recovers. Wait for every carrier receipt. The outage
  // follows the US cell's own progress and lasts until the breaker has opened, however the two cells'
  // dispatchers happen to interleave.
  const us = runtimes.find((r) => r.cell === 'us')!;
  const eu = runtimes.find((r) => r.cell === 'eu')!;
  let outage = 'before' as 'before' | 'during' | 'after';
  let ambiguityPlanted = false;
  const unfinished = () => tally.total((c) => c.statuses.accepted - c.finished);
  // Every accepted message ends in exactly one terminal status: delivered, or what the carrier or the
  // reconciliation policy says. The wait fails only if nothing at all moves for a minute.
  await until(async () => {
    await tick();
    const inUs = { accepted: tally.cells.us.statuses.accepted, sent: tally.cells.us.statuses.queued };
    if (outage === 'before' && inUs.accepted > 0 && inUs.sent >= inUs.accepted * 0.2) {
      us.telnyx.faults.always({ status5xx: 503 });
      outage = 'during';
      story.event('us', 'telnyx outage begins (simulated: every send is answered 503 Service Unavailable)');
    } else if (outage === 'during' && inUs.sent >= inUs.accepted * 0.55 && usTelnyxOpened) {
      us.telnyx.faults.always(null);
      outage = 'after';
      story.event(
        'us',
        'telnyx outage ends (Telnyx answers again; its breaker closes after a successful test)',
      );
    }
    // In the EU cell, one send is accepted by Telnyx but never answered: its outcome is ambiguous
    // (`unknown`, never resent) until the receipt carrying our id reconciles it.
    const inEu = { accepted: tally.cells.eu.statuses.accepted, sent: tally.cells.eu.statuses.queued };
    if (!ambiguityPlanted && inEu.accepted > 0 && inEu.sent >= inEu.accepted * 0.1) {
      eu.telnyx.faults.configure({ next: [{ timeoutAfterAccept: true }] });
      ambiguityPlanted = true;
      story.event(
        'eu',
        'telnyx takes the next send but never answers: an ambiguous outcome, reconciled from its receipt, never resent',
      );
    }
    return unfinished() === 0;
  }, progressed);
  if (outage === 'during') {
    us.telnyx.faults.always(null);
    story.event(
      'us',
      usTelnyxOpened
        ? 'telnyx outage ends (every message was finished first)'
        : `telnyx outage ends: the campaign finished first, with ${failedCalls.us.telnyx} failed Telnyx call${
            failedCalls.us.telnyx === 1 ? '' : 's'
          } during it, too few for the breaker to open (it needs 5)${failedCalls.us.telnyx > 0 ? '; Twilio took those messages' : ''}`,
    );
  }
  story.complete('dispatch', values().dispatch);
  story.complete('receipts', values().receipts);

  // Every message's final status reaches its controller's endpoint, signed (retried where it failed).
  // A delivery that failed twice (e.g. timed out on a starved machine) waits for the schedule's next
  // slot (5 min, then 30 min): the demo says so, and waits for a slot due within the next 10 minutes.
  let retryToldAt = 0;
  await until(
    async () => {
      await tick();
      const v = values().webhooks;
      if (v.value >= v.total) return true;
      if (performance.now() - retryToldAt > 60_000) {
        for (const rt of runtimes) {
          const { rows } = await rt.db.query<{ n: string; due: Date | null }>(
            `SELECT count(*) AS n, min(next_attempt_at) AS due FROM webhook_deliveries
              WHERE state = 'pending' AND attempts >= 2`,
          );
          const n = Number(rows[0]?.n ?? 0);
          const due = rows[0]?.due;
          if (n > 0 && due) {
            retryToldAt = performance.now();
            const inSeconds = Math.max(0, Math.round((new Date(due).getTime() - Date.now()) / 1000));
            story.event(
              rt.cell,
              `${n} webhook${n === 1 ? '' : 's'} failed twice; the next attempt is due in ${inSeconds} s (retry schedule: 5 s, 5 min, 30 min, …)`,
            );
          }
        }
      }
      return false;
    },
    progressed,
    WEBHOOK_STALL_MS,
  );
  story.complete('webhooks', values().webhooks);
  const endToEndSeconds = (performance.now() - campaignStarted) / 1000;

  const audit = await verifyAudit(runtimes, {
    produced: (cell) => tally.cells[cell].auditEvents,
    exportsSeen: (cell) => tally.cells[cell].auditExports,
    tick: async () => {
      await tick();
    },
    since: startedAt,
  });
  auditDone = true;
  // What was verified, against every processing event produced: the summary's figures, not a later count.
  story.complete('audit', {
    value: cells.reduce((n, c) => n + audit.cells[c].events, 0),
    total: tally.total((c) => c.auditEvents),
  });
  story.stop();

  const retried = {} as Record<Cell, number>;
  const deadLettered = {} as Record<Cell, number>;
  for (const rt of runtimes) {
    const { rows } = await rt.db.query<{ retried: string; dead: string }>(
      `SELECT count(*) FILTER (WHERE attempts > 1) AS retried, count(*) FILTER (WHERE state = 'dead') AS dead
         FROM webhook_deliveries`,
    );
    retried[rt.cell] = Number(rows[0]?.retried ?? 0);
    deadLettered[rt.cell] = Number(rows[0]?.dead ?? 0);
  }
  drainReceiver();
  const perCell = {} as Record<Cell, CellFigures>;
  for (const cell of cells) {
    const t = tally.cells[cell];
    const o = t.outcomes();
    const owners = controllers.filter((c) => c.region === cell).map((c) => c.id);
    perCell[cell] = {
      requested: requested[cell],
      accepted: o.accepted,
      rejected: { ...t.rejected },
      suppressed: o.suppressed,
      expired: o.expired,
      sent: { ...t.sent },
      failovers: o.failovers,
      ambiguous: o.ambiguous,
      breakerTransitions: transitions[cell],
      delivered: o.delivered,
      undelivered: o.undelivered,
      failed: o.failed,
      stoppedAtDispatch: o.stoppedAtDispatch,
      finalStatuses: t.finalStatuses,
      webhooks: {
        endpointsPerController,
        expected: t.finalStatuses * endpointsPerController,
        delivered: owners.reduce((n, id) => n + (webhookIds.get(id)?.size ?? 0), 0),
        retried: retried[cell],
        deadLettered: deadLettered[cell],
        signatureFailures: owners.reduce((n, id) => n + (signatureFailures[id] ?? 0), 0),
      },
      audit: audit.cells[cell],
    };
  }
  const total = totalFigures(cells.map((c) => perCell[c]));
  // The bus keeps only what a consumer or reader may still read: this says how much that was.
  const retained = Object.fromEntries(
    cells.flatMap((cell) => cellTopics(cell)).map((t) => [t.fullName, bus.retainedCount(t.fullName)]),
  );
  rootLog.info(
    { retainedRecords: Object.values(retained).reduce((a, b) => a + b, 0), retained },
    'in-memory bus: records retained at the end of the run',
  );
  const summary: DemoSummary = {
    ...total,
    cells: perCell,
    breakers: structuredClone(breakers),
    audit: {
      ...total.audit,
      verified: total.audit.verified && audit.exportVerified,
      exportedEntries: audit.exportedEntries,
      exportedPeriod: audit.exportedPeriod,
    },
    durationSeconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    messagesPerSecond: Number((options.messages / Math.max(endToEndSeconds, 0.001)).toFixed(1)),
    logFile,
  };

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const reader of readers) await reader.stop();
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
      process.off('exit', removeData);
      await rm(dataRoot, { recursive: true, force: true });
      await new Promise<void>((resolve) => logStream.end(resolve));
    })();
    return stopped;
  };
  const howToCall = [
    'Still running (Ctrl-C stops everything):',
    ...runtimes.flatMap((rt) => {
      const c = controllers.find((x) => x.region === rt.cell)!;
      return [
        `  control API (${rt.cell})   ${rt.controlUrl}   (OpenAPI at ${rt.controlUrl}/openapi.json)`,
        `    curl -s -H 'authorization: Bearer ${OPERATOR}' ${rt.controlUrl}/v1/controllers/${c.id}`,
        `    curl -s -H 'authorization: Bearer ${OPERATOR}' ${rt.controlUrl}/v1/controllers/${c.id}/endpoints`,
        `    curl -s -H 'authorization: Bearer ${OPERATOR}' ${rt.controlUrl}/v1/controllers/${c.id}/processing-record`,
        `  carrier simulators (${rt.cell})   telnyx ${rt.telnyx.origin}   twilio ${rt.twilio.baseUrl}`,
        `    curl -s ${rt.telnyx.origin}/__admin/counts`,
      ];
    }),
    `  webhook receiver   ${receiver.origin}`,
    `    curl -s ${receiver.origin}/__admin/counts`,
  ].join('\n');
  return { summary, howToCall, stop };
}

/**
 * Verifies the cells' ledgers as an auditor would. Once each ledger holds every processing event
 * produced, it signs a checkpoint; then the first controller's audit export is downloaded from the
 * control API (itself recorded in the ledger as `audit.export`); then each ledger, holding that event
 * too, is checkpointed and verified (chain and signed checkpoints, with the published key), and the
 * export is verified offline.
 */
async function verifyAudit(
  runtimes: readonly CellRuntime[],
  feed: {
    /** Processing events produced so far in the cell (what its ledger must hold). */
    produced: (cell: Cell) => number;
    /** `audit.export` events produced so far in the cell. */
    exportsSeen: (cell: Cell) => number;
    tick: () => Promise<void>;
    /** When the run began: the start of the exported period. */
    since: Date;
  },
): Promise<{
  cells: Record<Cell, CellFigures['audit']>;
  exportVerified: boolean;
  exportedEntries: number;
  exportedPeriod: { from: string; to: string; wholeRun: boolean };
}> {
  const settle = async (rt: CellRuntime) => {
    let appended = 0;
    await until(
      async () => {
        await feed.tick();
        appended = Number(
          (await rt.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_ledger')).rows[0]!.n,
        );
        return appended >= feed.produced(rt.cell);
      },
      () => appended,
    );
    await rt.audit.checkpoint();
  };
  // An export needs checkpointed entries.
  for (const rt of runtimes) await settle(rt);
  const first = controllers[0]!;
  const rt = runtimes.find((r) => r.cell === first.region)!;
  // The download is recorded as a processing event of its own (it may be folded before the
  // download returns): the ledgers are verified with it.
  const exportsBefore = feed.exportsSeen(rt.cell);
  const { bytes, period, wholeRun } = await downloadExport(rt.controlUrl, first.id, feed.since);
  if (bytes)
    await until(async () => {
      await feed.tick();
      return feed.exportsSeen(rt.cell) > exportsBefore;
    });
  const perCell = {} as Record<Cell, CellFigures['audit']>;
  for (const cellRt of runtimes) {
    await settle(cellRt);
    const verified = await verifyLedger(cellRt.db, { keys: [cellRt.audit.verifierKey] });
    perCell[cellRt.cell] = {
      events: verified.ok ? verified.count : 0,
      checkpoints: verified.ok ? verified.checkpoints : 0,
      verified: verified.ok,
    };
  }
  const exported = bytes
    ? verifyExport(bytes, { trustedKey: rt.audit.verifierKey })
    : ({ ok: false } as const);
  return {
    cells: perCell,
    exportVerified: exported.ok,
    exportedEntries: exported.ok ? exported.manifest.entries : 0,
    exportedPeriod: { from: period.from.toISOString(), to: period.to.toISOString(), wholeRun },
  };
}

/**
 * The controller's audit export from `since` until now. One export holds at most 200,000 entries
 * (AUDIT_EXPORT_TOO_LARGE; an auditor then asks by shorter periods): a long run's export covers its
 * first half, quarter, … whichever fits, and the summary says which period it verified.
 */
async function downloadExport(
  controlUrl: string,
  controllerId: string,
  since: Date,
): Promise<{ bytes: Uint8Array | undefined; period: { from: Date; to: Date }; wholeRun: boolean }> {
  const period = { from: since, to: new Date() };
  const end = period.to;
  for (;;) {
    const query = new URLSearchParams({ from: period.from.toISOString(), to: period.to.toISOString() });
    const res = await fetch(`${controlUrl}/v1/controllers/${controllerId}/audit-export?${query}`, {
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
    const wholeRun = period.to === end;
    if (res.ok) return { bytes: new Uint8Array(await res.arrayBuffer()), period, wholeRun };
    const problem = (await res.json().catch(() => ({}))) as { code?: string };
    const span = period.to.getTime() - period.from.getTime();
    if (problem.code !== 'AUDIT_EXPORT_TOO_LARGE' || span < 2_000)
      return { bytes: undefined, period, wholeRun };
    period.to = new Date(period.from.getTime() + Math.floor(span / 2));
  }
}

/**
 * Calls `failed` for each send of `carrier` that failed (what trips its breaker), saying whether the
 * call timed out (no answer in time: on a busy machine, the simulator may simply not have been heard).
 */
function countingFailures(
  carrier: ReturnType<typeof telnyxCarrier>,
  failed: (timedOut: boolean) => void,
): ReturnType<typeof telnyxCarrier> {
  return {
    name: carrier.name,
    lookup: (id) => carrier.lookup(id),
    ...(carrier.close ? { close: () => carrier.close!() } : {}),
    send: async (sms) => {
      try {
        const outcome = await carrier.send(sms);
        if (!outcome.accepted)
          failed(outcome.failure.kind === 'response_timeout' || outcome.failure.kind === 'connect_timeout');
        return outcome;
      } catch (error) {
        failed(false);
        throw error;
      }
    },
  };
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
  stallMs = STALL_MS,
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

// `npm run bench -- dispatch`: request → carrier accepted on the real broker and PostgreSQL: the
// router and the dispatcher in this process, the Telnyx simulator (`massivesms simulate telnyx`,
// reached through the official SDK) in its own process like a remote carrier, all on the same
// 2 cores. Its signed receipts come back to the dispatcher's ingress. Throughput from the first
// request produced to the last `queued` status (carrier accepted).
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { statusEventSchema } from '@massivesms/contracts';
import { KafkaBus } from '@massivesms/kafka';
import { startRouter } from '@massivesms/router/router';
import { createLogger } from '@massivesms/telemetry';
import { Registry } from 'prom-client';
import {
  openBenchWorkspace,
  publishBenchController,
  startBenchDispatcher,
  startSimulatorProcess,
  stopSimulatorProcess,
} from './fixtures.ts';

const messages = Number(process.env.BENCH_DISPATCH_MESSAGES ?? 5_000);
const workspace = await openBenchWorkspace('benchd');
const { infra, brokers, namespace, topic } = workspace;
const db = workspace.db(10);
const bus = new KafkaBus({ brokers, clientId: 'bench-dispatch', partitionsConsumedConcurrently: 12 });
const log = createLogger({ service: 'bench', level: 'warn', destination: process.stderr });

const kms = await publishBenchController(bus, topic('controllers.v1'));

const telnyxSim = await startSimulatorProcess<{ baseUrl: string; publicKey: string }>([
  'telnyx',
  '--api-key',
  'KEY_BENCH',
]);
const telnyx = telnyxSim.info;
const ledgerSize = async () =>
  (
    (await (await fetch(`${telnyx.baseUrl.replace(/\/v2$/, '')}/__admin/ledger`)).json()) as {
      entries: unknown[];
    }
  ).entries.length;
const router = await startRouter({ cell: 'us', bus, db, kms, log, registry: new Registry(), namespace });
const { dispatcher, twilio } = await startBenchDispatcher({ bus, db, kms, log, namespace, telnyx });

let queued = 0;
let lastAt = 0;
const reader = await bus.readFromStart({
  topics: [topic('sms.status.v1')],
  onRecords: (records) => {
    for (const r of records) {
      if (statusEventSchema.parse(JSON.parse(r.value!.toString())).status === 'queued') queued++;
    }
    lastAt = performance.now();
  },
});
await reader.caughtUp;
const startedAt = performance.now();
for (let i = 0; i < messages; i += 1_000) {
  await bus.producer().send(
    Array.from({ length: Math.min(1_000, messages - i) }, (_, k) => ({
      topic: topic('sms.requested.v1'),
      key: null,
      value: JSON.stringify({
        messageId: `d-${i + k}`,
        controllerId: 'acme',
        campaignId: 'bench',
        purpose: 'essential.service.notifications.sms',
        to: `+1415${String(2_000_000 + i + k)}`,
        from: '+14155550100',
        body: `Your order ${i + k} has shipped.`,
      }),
    })),
  );
}
const deadline = Date.now() + 600_000;
while (queued < messages && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
const seconds = (lastAt - startedAt) / 1000;
const report = {
  bench: 'dispatch',
  date: new Date().toISOString(),
  machine: { cores: cpus().length, node: process.version },
  kafka: infra.kafkaVersion,
  messages,
  carrierAccepted: queued,
  requestToCarrierAcceptedPerSecond: Math.round(queued / seconds),
  telnyxLedger: await ledgerSize(),
  note: 'Router and dispatcher in one process, the Telnyx simulator in another, broker and PostgreSQL: all on the same 2 cores; rate limits lifted.',
};
console.log(JSON.stringify(report, null, 2));
writeFileSync(new URL('reports/dispatch.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

await reader.stop();
await dispatcher.stop();
await router.stop();
await bus.close();
await stopSimulatorProcess(telnyxSim);
await twilio.close();
await db.close();
await workspace.close();

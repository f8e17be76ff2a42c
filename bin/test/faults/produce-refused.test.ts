import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type FaultPipeline, startFaultPipeline } from './pipeline.ts';

const { ConfigResourceTypes, Kafka } = kafkajs; // CommonJS: no named exports under Node

// Fault: the broker refuses produces for a while after the services committed their changes: every
// output topic of the scenario takes no record larger than 1 byte (MESSAGE_TOO_LARGE) for 10 s;
// what was committed meanwhile must still be published, once, in order.
describe('fault injection: the broker refuses produces after a database commit', () => {
  let p: FaultPipeline;
  let kafka: InstanceType<typeof Kafka>;
  const refused = () =>
    ['sms.dispatch.v1', 'sms.status.v1', 'audit.processing.v1', 'suppressions.v1'].map((t) =>
      p.topic(t as never),
    );
  const maxMessageBytes = async (bytes: number) => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: refused().map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configEntries: [{ name: 'max.message.bytes', value: String(bytes) }],
        })),
      });
    } finally {
      await admin.disconnect();
    }
  };

  beforeAll(async () => {
    p = await startFaultPipeline();
    kafka = new Kafka({ brokers: p.topics.brokers, clientId: 'faults-admin', logLevel: 0 });
  }, 120_000);
  afterAll(async () => {
    await p?.close();
  });

  it('every request still ends in one terminal status, announced once, with its processing events', {
    timeout: 240_000,
  }, async () => {
    onTestFailed(() => console.log(p.logs.join('')));
    await p.produce('before', 40);
    await p.awaitTerminalWebhooks(10, 60_000); // traffic is flowing
    await maxMessageBytes(1);
    try {
      await p.produce('during', 60);
      await p.produce('during-solo', 20, 'solo');
      await new Promise((r) => setTimeout(r, 10_000));
      // The fault took: decisions were committed and their events wait in the outboxes.
      const { rows } = await p.db.query<{ waiting: number }>(
        'SELECT (SELECT count(*) FROM router_outbox) + (SELECT count(*) FROM dispatcher_outbox) AS waiting',
      );
      expect(Number(rows[0]!.waiting)).toBeGreaterThan(0);
    } finally {
      await maxMessageBytes(1_048_588); // the broker's default
    }
    await p.awaitTerminalWebhooks(120, 150_000);
    const report = await p.check();
    expect(report.violations, p.formatReport(report)).toEqual([]);
    expect(report.checked.requests).toBe(120);
  });
});

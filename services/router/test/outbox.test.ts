import { dispatchRecordSchema, statusEventSchema } from '@massivesms/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, type RouterHarness, request, startHarness } from './harness.ts';

// A decision and the records that announce it commit together (issue 10): when the transaction
// that claims a request fails at COMMIT, nothing of it may have been published, or the retry —
// deciding again, later — announces a second, different outcome for the same message.
describe('router outputs commit with their claims (real Kafka and PostgreSQL)', () => {
  let h: RouterHarness;
  const statuses = (messageId: string) =>
    h
      .read('sms.status.v1')
      .map((r) => statusEventSchema.parse(json(r)))
      .filter((s) => s.messageId === messageId)
      .map((s) => s.status);
  const dispatched = (messageId: string) =>
    h.read('sms.dispatch.v1').filter((r) => dispatchRecordSchema.parse(json(r)).messageId === messageId);

  beforeAll(async () => {
    h = await startHarness('us');
    await h.publishController({ id: 'acme' });
    await h.startRouter(undefined, { routing: { retryBackoffMs: { initial: 1_500, max: 1_500 } } });
  });
  afterAll(() => h.close());

  it('a claim whose commit fails announces nothing; the retry’s decision is the only one published', async () => {
    // Fails the first COMMIT that claims `late-commit` (a deferred constraint trigger runs at COMMIT;
    // a sequence counts outside the transaction, so the retry's commit goes through).
    await h.db.query('CREATE SEQUENCE fail_once');
    await h.db.query(`CREATE FUNCTION fail_commit_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.message_id = 'late-commit' AND nextval('fail_once') = 1 THEN
          RAISE EXCEPTION 'planted commit failure' USING ERRCODE = '40001';
        END IF;
        RETURN NULL;
      END $$`);
    await h.db.query(`CREATE CONSTRAINT TRIGGER fail_commit_once AFTER INSERT ON router_messages
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit_once()`);
    try {
      // Valid when first decided; expired by the time the batch is retried (backoff 1.5 s).
      const validUntil = new Date(Date.now() + 1_000).toISOString();
      await h.send([request({ messageId: 'late-commit', validUntil })]);
      await eventually(20_000, () => expect(statuses('late-commit')).toEqual(['expired']));
    } finally {
      await h.db.query('DROP TRIGGER fail_commit_once ON router_messages');
      await h.db.query('DROP FUNCTION fail_commit_once()');
      await h.db.query('DROP SEQUENCE fail_once');
    }
    // Give a stray publication of the failed attempt time to show.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(dispatched('late-commit')).toEqual([]);
    expect(statuses('late-commit')).toEqual(['expired']);
  });
});

import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgDb, type Db, migrate } from '@massivesms/db';
import type { OutgoingRecord } from '@massivesms/messaging';
import { decodeRecords, writeOutbox } from '@massivesms/outbox';
import { createTestSchema } from '@massivesms/testkit';
import { describe, expect, it } from 'vitest';
import { serviceMigrations } from '../migrations.ts';

// The outbox moved from a row per record to a row per statement (libs/outbox); each service's
// migration must carry the rows still waiting at the upgrade into the new shape, in order.

/** Old-shape rows: topic, key, value, headers (JSON text), as the previous release wrote them. */
const waiting: OutgoingRecord[] = [
  {
    topic: 'cell.sms.status.v1',
    key: 'ctrl-1',
    value: Buffer.from('{"a":1}'),
    headers: { schema: 'sms.status.v1', controller: 'ctrl-1' },
  },
  { topic: 'cell.audit.processing.v1', key: null, value: null },
  { topic: 'cell.sms.status.v1', key: '', value: Buffer.alloc(0), headers: {} },
  { topic: 'tópico', key: 'clé', value: Buffer.from([0, 255, 1]), headers: { ç: 'é✓', empty: '' } },
];

/** The migrations of a folder up to (not including) the first that changes the outbox's shape. */
async function before(dir: string): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const upgrade = files.findIndex((f) => f.endsWith('_outbox_frames.sql'));
  expect(upgrade).toBeGreaterThan(0);
  const older = await mkdtemp(join(tmpdir(), 'outbox-upgrade-'));
  for (const f of files.slice(0, upgrade)) await cp(join(dir, f), join(older, f));
  return older;
}

describe('outbox upgrade migrations', () => {
  it.each(serviceMigrations.map((s) => [s.service, s] as const))(
    '%s: rows waiting at the upgrade become rows of the new shape, in order, holding the same records',
    async (service, source) => {
      const schema = await createTestSchema(`outbox_up_${service}`);
      const db: Db = createPgDb({ url: schema.url, schema: schema.schema, max: 2 });
      const older = await before(source.dir);
      const table = `${service}_outbox`;
      try {
        await migrate(db, { service, dir: older });
        for (const r of waiting)
          await db.query(`INSERT INTO ${table} (topic, key, value, headers) VALUES ($1, $2, $3, $4)`, [
            r.topic,
            r.key,
            r.value,
            r.headers ? JSON.stringify(r.headers) : null,
          ]);
        // One published already: ids keep going up across the upgrade.
        await db.query(`DELETE FROM ${table} WHERE id = (SELECT min(id) FROM ${table})`);
        const moved = waiting.slice(1);

        expect((await migrate(db, source)).length).toBeGreaterThan(0);
        await writeOutbox(db, table, [{ topic: 'after', key: 'k', value: 'new' }]);
        const { rows } = await db.query<{ id: string; records: Buffer; count: number }>(
          `SELECT id, records, count FROM ${table} ORDER BY id`,
        );
        expect(rows.map((r) => r.count)).toEqual([1, 1, 1, 1]);
        expect(rows.flatMap((r) => decodeRecords(r.records))).toEqual([
          ...moved.map((r) => ({
            topic: r.topic,
            key: r.key,
            value: r.value,
            ...(r.headers ? { headers: r.headers } : {}),
          })),
          { topic: 'after', key: 'k', value: Buffer.from('new') },
        ]);
        const ids = rows.map((r) => BigInt(r.id));
        expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
      } finally {
        await rm(older, { recursive: true, force: true });
        await db.close();
        await schema.drop();
      }
    },
  );
});

// The whole-flow canary (issue 13, DPA §4/§5): the pipeline's processes run with canary numbers in
// every written form, names and bodies, also echoed inside carrier error codes and in the customer
// endpoint's answers; then every captured log line, every record of every topic (key, headers, value,
// base64 inside it decoded; all but the producers' input topic) and every row of every table (bytea as UTF-8 and as hex) is scanned for
// any form of them. Zero hits. The scan is shown to find a planted plaintext in each place.
import { cellTopics, topicFor } from '@massivesms/contracts';
import type { Db } from '@massivesms/db';
import type { KafkaBus } from '@massivesms/kafka';
import type { IncomingRecord } from '@massivesms/messaging';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultPipeline, startFaultPipeline } from './pipeline.ts';

// Valid US numbers (libphonenumber-js max metadata), one per written form a producer may use.
const NUMBERS = ['4155550142', '4155550143', '4155550144', '4155550145', '4155550146', '4155550147'];
const NAME = 'Zelda Quokkaberg';
const BODIES = [
  `Hi ${NAME}, your parcel Qx7 is at the depot.`,
  `${NAME}: code 4821 for your Vexmoor account.`,
  'Canary body ultramarine-okapi, reply STOP to opt out.',
];

/** Every form a number is looked for in: digits with any separators, with or without +/00/%2B before. */
function numberPattern(national: string): RegExp {
  const sep = String.raw`(?:[\s.\-()/+]|%20|%2[Bb]|\\u002[Bb]){0,3}`;
  return new RegExp(national.split('').join(sep));
}

/** What a text must never contain: the numbers (national digits in any form), names and bodies, also hex and base64. */
function needles(): { label: string; test: (text: string) => boolean }[] {
  const out: { label: string; test: (text: string) => boolean }[] = NUMBERS.map((n) => {
    const pattern = numberPattern(n);
    return { label: `number ${n}`, test: (t: string) => pattern.test(t) };
  });
  for (const text of [NAME, ...BODIES, 'ultramarine-okapi', 'Quokkaberg']) {
    const forms = [text, Buffer.from(text).toString('hex')];
    // base64 of the text at each of the three alignments, without the edge characters.
    for (let shift = 0; shift < 3; shift++) {
      const b64 = Buffer.from(`${'x'.repeat(shift)}${text}`).toString('base64');
      forms.push(b64.slice(4, -4));
    }
    for (const form of forms)
      out.push({ label: `"${text}" as ${form.slice(0, 12)}…`, test: (t) => t.includes(form) });
  }
  return out;
}

/** The strings inside a JSON text that look like base64 (≥ 16 characters), decoded, to be scanned too. */
function base64Inside(text: string): string[] {
  return [...text.matchAll(/[A-Za-z0-9+/_-]{16,}={0,2}/g)].map((m) =>
    Buffer.from(m[0], m[0].includes('-') || m[0].includes('_') ? 'base64url' : 'base64').toString('utf8'),
  );
}

interface Hit {
  readonly where: string;
  readonly needle: string;
}

function scanText(where: string, texts: readonly string[], hits: Hit[]): void {
  for (const needle of needles()) {
    if (texts.some((t) => needle.test(t))) hits.push({ where, needle: needle.label });
  }
}

async function readTopics(bus: KafkaBus, names: readonly string[]): Promise<IncomingRecord[]> {
  const records: IncomingRecord[] = [];
  const reader = await bus.readFromStart({ topics: names, onRecords: (r) => void records.push(...r) });
  try {
    await reader.caughtUp;
  } finally {
    await reader.stop();
  }
  return records;
}

/** Scans logs, every topic of the cell and every table of the schema; returns each hit. */
async function scan(p: FaultPipeline, extraTopics: readonly string[] = []): Promise<Hit[]> {
  const hits: Hit[] = [];
  for (const [i, line] of p.logs.entries()) scanText(`log line ${i}`, [line], hits);

  const names = [
    ...cellTopics('us', { namespace: p.topics.namespace })
      // The producers' own topic holds their plaintext by design (3 days): everything after it may not.
      .filter((t) => t.name !== 'sms.requested.v1')
      .map((t) => t.fullName),
    ...extraTopics,
  ];
  for (const r of await readTopics(p.bus, names)) {
    const value = r.value?.toString('utf8') ?? '';
    const texts = [r.key ?? '', JSON.stringify(r.headers), value, r.value?.toString('hex') ?? ''];
    scanText(`${r.topic}@${r.partition}:${r.offset}`, [...texts, ...base64Inside(value)], hits);
  }

  for (const table of await tables(p.db, p.schema.schema)) {
    const { rows } = await p.db.query<Record<string, unknown>>(
      `SELECT * FROM "${p.schema.schema}"."${table}"`,
    );
    rows.forEach((row, i) => {
      const texts: string[] = [];
      for (const value of Object.values(row)) {
        if (Buffer.isBuffer(value)) texts.push(value.toString('utf8'), value.toString('hex'));
        else if (value !== null) {
          const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
          texts.push(text, ...base64Inside(text));
        }
      }
      scanText(`${table} row ${i}`, texts, hits);
    });
  }
  return hits;
}

async function tables(db: Db, schema: string): Promise<string[]> {
  const { rows } = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.table_name);
}

describe('privacy canary: the whole flow leaves no plaintext personal data anywhere', () => {
  let p: FaultPipeline;

  beforeAll(async () => {
    p = await startFaultPipeline({ also: ['audit'], env: { LOG_LEVEL: 'debug' } });
  });
  afterAll(() => p?.close());

  it('routes, fails, rejects and delivers canaries; no log line, record or row holds any of them', {
    timeout: 240_000,
  }, async () => {
    const [a, b, c, d, e, f] = NUMBERS as [string, string, string, string, string, string];
    // Telnyx refuses two recipients with an error "code" that echoes the number, or the body.
    await p.telnyx.faults.configure({
      recipients: {
        [`+1${e}`]: { error: 'invalidNumber', code: `+1${e}` },
        [`+1${f}`]: { error: 'invalidNumber', code: BODIES[2] },
      },
    });
    // The customer endpoint answers with the canaries in its body, in every written form.
    p.receiver.setBehaviour('acme', {
      body: `ok {"to":"+1${a}","n":"1${a}"} to=%2B1${b}&x=1 +1 (${c.slice(0, 3)}) ${c.slice(3, 6)}-${c.slice(6)} 001${d}`,
    });
    await p.produceRequests([
      { messageId: 'canary-e164', controllerId: 'acme', to: `+1${a}`, body: BODIES[0]! },
      {
        messageId: 'canary-spaced',
        controllerId: 'acme',
        to: `+1 (${b.slice(0, 3)}) ${b.slice(3, 6)}-${b.slice(6)}`,
        body: BODIES[1]!,
      },
      {
        messageId: 'canary-dotted',
        controllerId: 'acme',
        to: `+1.${c.slice(0, 3)}.${c.slice(3, 6)}.${c.slice(6)}`,
        body: BODIES[2]!,
      },
      // Written without "+" or URL-encoded: the router refuses them (invalid recipient), keeping no plaintext.
      { messageId: 'canary-bare', controllerId: 'acme', to: `1${d}`, body: BODIES[0]! },
      { messageId: 'canary-urlenc', controllerId: 'acme', to: `%2B1${d}`, body: BODIES[1]! },
      { messageId: 'canary-echo-number', controllerId: 'acme', to: `+1${e}`, body: BODIES[0]! },
      { messageId: 'canary-echo-body', controllerId: 'acme', to: `+1${f}`, body: BODIES[2]! },
    ]);
    const raw = (value: object, headers: Record<string, string> = {}) => ({
      topic: p.topic('sms.requested.v1'),
      key: null,
      value: JSON.stringify({
        campaignId: 'faults',
        purpose: 'essential.service.notifications.sms',
        from: '+14155551000',
        ...value,
      }),
      headers,
    });
    await p.bus.producer().send([
      // Metadata holding a number: refused before anything else reads it.
      raw({
        messageId: 'canary-metadata',
        controllerId: 'acme',
        to: `+1${a}`,
        body: BODIES[0],
        metadata: { ref: `00 1 ${a}` },
      }),
      // Another region's record reaching this cell.
      raw({ messageId: 'canary-eu', controllerId: 'acme', to: `+1${b}`, body: BODIES[1] }, { region: 'eu' }),
      // Not JSON at all.
      { topic: p.topic('sms.requested.v1'), key: null, value: `to=+1${c}&body=${BODIES[2]}` },
    ]);
    await p.awaitTerminalWebhooks(7, 120_000);
    // The ledger and the rejections of the records without a controller settle after the webhooks.
    const rejected = async () => (await readTopics(p.bus, [p.topic('sms.rejected.v1')])).length;
    const deadline = Date.now() + 30_000;
    while ((await rejected()) < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(await rejected()).toBeGreaterThanOrEqual(4);
    expect(p.telnyx.ledger.size + p.twilio.ledger.size).toBeGreaterThan(0);

    // The canaries reached every place scanned, scrubbed: the endpoint's echo is stored, the carrier's
    // echoed codes are in the stored reasons, the services logged, the rejections were written.
    const stored = async (sql: string) =>
      (await p.db.query<{ t: string }>(sql)).rows.map((r) => r.t).join('\n');
    const excerpts = await stored(
      `SELECT response_excerpt AS t FROM "${p.schema.schema}".webhook_attempts WHERE response_excerpt IS NOT NULL`,
    );
    expect(excerpts).toContain('[redacted:phone]');
    expect(excerpts).toContain('ok {"to":"');
    const reasons = await stored(
      `SELECT reason AS t FROM "${p.schema.schema}".dispatcher_messages WHERE message_id LIKE 'canary-echo-%'`,
    );
    expect(reasons).toContain('[redacted:phone]');
    expect(reasons).toContain('[redacted:text]');
    expect(p.logs.length).toBeGreaterThan(0);

    const hits = await scan(p);
    const summary = [
      ...new Set(hits.map((h) => `${h.where.replace(/@.*| row \d+| line \d+/, '')}: ${h.needle}`)),
    ];
    expect(summary).toEqual([]);
  });

  it('the scan finds a plaintext planted in a log line, a topic record and a table row, in any form', {
    timeout: 60_000,
  }, async () => {
    const [a, b, c] = NUMBERS as [string, string, string];
    const planted = topicFor('us', 'sms.rejected.v1', p.topics.namespace);
    await p.db.query(`CREATE TABLE "${p.schema.schema}".planted_canary (note text, blob bytea)`);
    await p.db.query(`INSERT INTO "${p.schema.schema}".planted_canary VALUES ($1, $2)`, [
      `call %2B1${a} later`,
      Buffer.from(`{"name":"${NAME}"}`),
    ]);
    await p.bus.producer().send([
      {
        topic: planted,
        key: null,
        value: JSON.stringify({ original: Buffer.from(`to 00 1 ${b}`).toString('base64') }),
      },
    ]);
    p.logs.push(
      `[planted] {"msg":"carrier said","detail":"1.${c.slice(0, 3)}.${c.slice(3, 6)}.${c.slice(6)}"}`,
    );
    const hits = await scan(p);
    const where = (prefix: string) => hits.filter((h) => h.where.startsWith(prefix)).map((h) => h.needle);
    expect(where('planted_canary')).toEqual(
      expect.arrayContaining([`number ${a}`, expect.stringContaining(NAME)]),
    );
    expect(where(planted)).toContain(`number ${b}`);
    expect(where('log line')).toContain(`number ${c}`);
  });
});

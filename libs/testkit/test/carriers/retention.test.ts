import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeliveryRecord,
  startTelnyxSimulator,
  startTwilioSimulator,
  type TelnyxSimulator,
  type TwilioSimulator,
} from '../../src/carriers/index.ts';
import { Fifo, MessageWindow, RetainedList } from '../../src/carriers/retention.ts';
import { type Receiver, startReceiver } from './receiver.ts';

const FROM = '+15550000003';
const TO = '+15551230003';
const SLOW = '+15551239999';
const accountSid = `AC${'0123456789abcdef'.repeat(2)}`;
const authToken = 'simulated_auth_token_0123456789ab';
const apiKey = 'KEY0123456789ABCDEF_retention';

/** One simulator as these tests drive it: raw HTTP, so both carriers run the same cases. */
interface Driven {
  readonly sim: TelnyxSimulator | TwilioSimulator;
  readonly origin: string;
  /** Sends one message whose receipts go to `/receipts/<tag>`; resolves to the carrier's id. */
  send(tag: string, to?: string): Promise<string>;
  /** `GET` of one message by carrier id: status and JSON body. */
  lookup(id: string): Promise<{ status: number; body: unknown }>;
  /** An id of the carrier's form that was never issued. */
  unknownId(): string;
  /** The status field of a looked-up message. */
  statusOf(body: unknown): string;
  sendInbound(): Promise<DeliveryRecord>;
}

let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver.close();
});

async function telnyx(retainMessages?: number): Promise<Driven> {
  const sim = await startTelnyxSimulator({ apiKey, webhookRetryDelayMs: 10, retainMessages });
  const auth = { authorization: `Bearer ${apiKey}` };
  return {
    sim,
    origin: sim.origin,
    async send(tag, to = TO) {
      const res = await fetch(`${sim.baseUrl}/messages`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          to,
          from: FROM,
          text: 'hi',
          webhook_url: `${receiver.origin}/receipts/${tag}`,
        }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { data: { id: string } }).data.id;
    },
    async lookup(id) {
      const res = await fetch(`${sim.baseUrl}/messages/${id}`, { headers: auth });
      return { status: res.status, body: await res.json() };
    },
    unknownId: () => randomUUID(),
    statusOf: (body) => (body as { data: { to: { status: string }[] } }).data.to[0]!.status,
    sendInbound: () =>
      sim.sendInbound({ to: FROM, from: TO, text: 'STOP', url: `${receiver.origin}/inbound/telnyx` }),
  };
}

async function twilio(retainMessages?: number): Promise<Driven> {
  const sim = await startTwilioSimulator({ accountSid, authToken, retainMessages });
  const auth = { authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}` };
  const messages = `${sim.baseUrl}/2010-04-01/Accounts/${accountSid}/Messages`;
  return {
    sim,
    origin: sim.baseUrl,
    async send(tag, to = TO) {
      const res = await fetch(`${messages}.json`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          To: to,
          From: FROM,
          Body: 'hi',
          StatusCallback: `${receiver.origin}/receipts/${tag}`,
        }).toString(),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { sid: string }).sid;
    },
    async lookup(id) {
      const res = await fetch(`${messages}/${id}.json`, { headers: auth });
      return { status: res.status, body: await res.json() };
    },
    unknownId: () => `SM${randomBytes(16).toString('hex')}`,
    statusOf: (body) => (body as { status: string }).status,
    sendInbound: () =>
      sim.sendInbound({ to: FROM, from: TO, text: 'STOP', url: `${receiver.origin}/inbound/twilio` }),
  };
}

async function adminJson(origin: string, path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${origin}/__admin/${path}`)).json()) as Record<string, unknown>;
}

async function sendMany(api: Pick<Driven, 'send'>, tag: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await api.send(`${tag}-${i}`));
  return ids;
}

describe.each([
  ['Telnyx', telnyx],
  ['Twilio', twilio],
])('%s simulator with retainMessages', (_name, start) => {
  it('keeps the newest 5 of 50 messages in the ledger, lookups and delivery records, while every count stays a total', async () => {
    const { sim, ...api } = await start(5);
    try {
      const ids = await sendMany(api, `window-${_name}`, 50);
      await sim.settled();
      const newest = ids.slice(-5);

      expect(sim.ledger.size).toBe(50);
      expect(sim.ledger.retained).toBe(5);
      expect(sim.ledger.entries.map((e) => e.carrierMessageId)).toEqual(newest);
      expect(sim.ledger.countForCallbackId(`window-${_name}-0`)).toBe(0);
      expect(sim.ledger.countForCallbackId(`window-${_name}-49`)).toBe(1);
      // Two receipts each (sent, then delivered/finalized), only for the kept messages.
      expect(sim.deliveries).toHaveLength(10);
      expect(new Set(sim.deliveries.map((d) => d.carrierMessageId))).toEqual(new Set(newest));
      expect(receiver.at(`/receipts/window-${_name}-`)).toHaveLength(100);

      expect(await adminJson(api.origin, 'counts')).toEqual({
        accepted: 50,
        receiptsPosted: 100,
        receiptAttempts: 100,
      });
      const ledger = await adminJson(api.origin, 'ledger');
      expect(ledger.accepted).toBe(50);
      expect(ledger.entries).toHaveLength(5);
      expect(ledger.deliveries).toHaveLength(10);

      const kept = await api.lookup(newest[0]!);
      expect(kept.status).toBe(200);
      expect(api.statusOf(kept.body)).toBe('delivered');
      // A dropped message answers exactly as an id the carrier never issued.
      const unknown = await api.lookup(api.unknownId());
      expect(unknown.status).toBe(404);
      for (const dropped of [ids[0]!, ids[44]!]) expect(await api.lookup(dropped)).toEqual(unknown);
    } finally {
      await sim.close();
    }
  });

  it('keeps the newest 5 inbound deliveries and counts them all', async () => {
    const { sim, ...api } = await start(5);
    try {
      for (let i = 0; i < 8; i++) await api.sendInbound();
      expect(sim.deliveries).toHaveLength(5);
      expect(await adminJson(api.origin, 'counts')).toMatchObject({ receiptsPosted: 8, receiptAttempts: 8 });
    } finally {
      await sim.close();
    }
  });

  it('keeps a message whose receipts are still pending until they are posted, then drops it', async () => {
    const { sim, ...api } = await start(5);
    try {
      sim.faults.recipient(SLOW, { receipts: { delayMs: 2_000 } });
      const slow = await api.send(`pending-${_name}`, SLOW);
      const others = await sendMany(api, `pending-others-${_name}`, 20);
      await receiver.waitFor(`/receipts/pending-others-${_name}-`, 40);
      // Precondition: the slow message's receipts are still pending (else this proves nothing).
      expect(receiver.at(`/receipts/pending-${_name}`)).toHaveLength(0);

      // Out of the window (20 newer messages) but still kept: looked up, in the ledger.
      const during = await api.lookup(slow);
      expect(during.status).toBe(200);
      expect(sim.ledger.entries.map((e) => e.carrierMessageId)).toEqual([slow, ...others.slice(-5)]);

      await sim.settled();
      expect(receiver.at(`/receipts/pending-${_name}`)).toHaveLength(2);
      expect((await api.lookup(slow)).status).toBe(404);
      expect(sim.ledger.entries.map((e) => e.carrierMessageId)).toEqual(others.slice(-5));
      expect(sim.deliveries.map((d) => d.carrierMessageId)).not.toContain(slow);
      expect(sim.ledger.size).toBe(21);
    } finally {
      await sim.close();
    }
  });

  it('keeps every message without the option', async () => {
    const { sim, ...api } = await start();
    try {
      const ids = await sendMany(api, `all-${_name}`, 50);
      await sim.settled();
      expect(sim.ledger.size).toBe(50);
      expect(sim.ledger.entries.map((e) => e.carrierMessageId)).toEqual(ids);
      expect(sim.deliveries).toHaveLength(100);
      expect((await api.lookup(ids[0]!)).status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it('refuses a window that is not a positive integer', async () => {
    await expect(start(0)).rejects.toThrow(RangeError);
    await expect(start(2.5)).rejects.toThrow(RangeError);
  });
});

describe('retention building blocks', () => {
  it('Fifo keeps order across its compactions', () => {
    const fifo = new Fifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      fifo.push(i);
      if (i % 3 !== 0) out.push(fifo.shift()!);
    }
    while (fifo.size > 0) out.push(fifo.shift()!);
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(fifo.shift()).toBeUndefined();
  });

  it('a window of 3 over 10,000 messages keeps the newest 3 in every store', () => {
    const ledger = new RetainedList<object>(true);
    const deliveries = new RetainedList<object>(true);
    const messages = new Map<string, unknown>();
    const window = new MessageWindow(3, {
      ledger: { forget: (e) => ledger.forget(e) },
      deliveries: { forget: (r) => deliveries.forget(r) },
      messages,
    });
    for (let i = 0; i < 10_000; i++) {
      const id = `m${i}`;
      const entry = { id } as never;
      ledger.add(entry);
      messages.set(id, entry);
      const kept = window.admit(id, entry);
      const record = { carrierMessageId: id } as never;
      deliveries.add(record);
      kept.records.push(record);
      window.receiptsEnded(kept);
    }
    const newest = ['m9997', 'm9998', 'm9999'];
    expect([...messages.keys()]).toEqual(newest);
    expect(ledger.items.map((e) => (e as { id: string }).id)).toEqual(newest);
    expect(deliveries.items.map((r) => (r as { carrierMessageId: string }).carrierMessageId)).toEqual(newest);
  });
});

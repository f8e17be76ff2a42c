// The demo campaign: mostly good requests, and every kind of trouble the pipeline must handle.
import type { Cell } from '@massivesms/contracts';

export interface DemoController {
  readonly id: string;
  readonly name: string;
  readonly region: Cell;
  readonly instruction: Record<string, unknown>;
  readonly sender: string;
  /** Makes a valid mobile number of the controller's market. */
  readonly number: (i: number) => string;
}

export const controllers: readonly DemoController[] = [
  {
    id: 'acme-us',
    name: 'Acme Retail (US)',
    region: 'us',
    instruction: {
      purposes: ['essential.service.notifications.sms', 'marketing.communications.sms'],
      subprocessors: ['telnyx', 'twilio'],
      retention: { contentDays: 30, metadataDays: 365 },
      storeContentAfterDispatch: false,
    },
    sender: '+14155550100',
    number: (i) => `+1415${String(2_000_000 + ((i * 7919) % 7_999_999)).padStart(7, '0')}`,
  },
  {
    id: 'zeta-eu',
    name: 'Zeta Versand GmbH (EU)',
    region: 'eu',
    instruction: {
      purposes: ['essential.service.notifications.sms'],
      subprocessors: ['telnyx', 'twilio'],
      retention: { contentDays: 7, metadataDays: 180 },
      storeContentAfterDispatch: false,
    },
    sender: 'ZETA',
    number: (i) => `+49151${String(10_000_000 + ((i * 104_729) % 89_999_999)).padStart(8, '0')}`,
  },
];

/** The recipient who texted STOP before the campaign (each controller has one). */
export const optedOut = (c: DemoController) => c.number(999_999);

export type DemoRecord = { cell: Cell; value: string | Buffer; trouble: string | null };

/**
 * `n` requests, spread over both controllers, with a fixed share of trouble: malformed records,
 * unknown controller, invalid numbers, a landline, the opted-out recipient, expired requests and a
 * purpose the EU controller never allowed.
 */
export function campaign(n: number, now: Date): DemoRecord[] {
  return campaignRecords(0, n, now);
}

/** Requests `from` (inclusive) to `to` (exclusive) of the campaign: a large one is made a chunk at a time. */
export function campaignRecords(from: number, to: number, now: Date): DemoRecord[] {
  const records: DemoRecord[] = [];
  for (let i = from; i < to; i++) {
    const c = controllers[i % controllers.length]!;
    const base = {
      messageId: `demo-${c.region}-${i}`,
      controllerId: c.id,
      campaignId: 'winter-2026',
      purpose: 'essential.service.notifications.sms',
      to: c.number(i),
      from: c.sender,
      body:
        i % 5 === 0
          ? `Ihre Bestellung ${i} ist unterwegs 🚚 — Danke!`
          : `Your order ${i} has shipped. Reply STOP to opt out.`,
    };
    let value: unknown = base;
    let trouble: string | null = null;
    switch (i % 25) {
      case 3:
        trouble = 'malformed';
        value = Buffer.from(`{"messageId": "demo-${i}", "body": "unterminated`);
        break;
      case 7:
        trouble = 'unknown controller';
        value = { ...base, controllerId: 'no-such-customer' };
        break;
      case 11:
        trouble = 'invalid number';
        value = { ...base, to: '+1555' };
        break;
      case 13:
        trouble = 'landline';
        value = { ...base, to: c.region === 'eu' ? '+4930123456' : '+442079460000' };
        break;
      case 17:
        trouble = 'opted out';
        value = { ...base, to: optedOut(c) };
        break;
      case 19:
        trouble = 'expired';
        value = { ...base, validUntil: new Date(now.getTime() - 60_000).toISOString() };
        break;
      case 23:
        trouble = 'purpose';
        value = { ...base, purpose: 'marketing.communications.sms' }; // allowed in the US only
        break;
    }
    records.push({ cell: c.region, value: Buffer.isBuffer(value) ? value : JSON.stringify(value), trouble });
  }
  return records;
}

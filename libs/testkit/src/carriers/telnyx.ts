// A Telnyx Messaging API v2 simulator: `POST /v2/messages` as the official SDK sends it, signed
// `message.sent` / `message.finalized` / `message.received` webhooks the SDK's `webhooks.unwrap`
// verifies, and the faults the dispatcher must classify (see reference/carriers.md).
//
// Shapes follow the telnyx 7.x SDK types (OutboundMessagePayload, MessagingInboundMessagePayload,
// DeliveryUpdateWebhookEvent). Where the SDK and carriers.md are silent (HTTP status of a 40300,
// meaning of x-ratelimit-reset) the choice is marked "(verify)".

import { generateKeyPairSync, type KeyObject, randomUUID, sign, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { FaultController, type ResolvedFault } from './faults.ts';
import {
  type DeliveryRecord,
  handleAdmin,
  pause,
  readBody,
  type SignedRequest,
  sendJson,
  sendProxyError,
  startHttpServer,
} from './http.ts';
import type { Ledger, LedgerEntry } from './ledger.ts';
import type { RetainedMessage } from './retention.ts';
import { carrierSegments } from './segments.ts';
import { simulatorStores } from './stores.ts';

/** An ed25519 key pair as `generateKeyPairSync('ed25519')` returns it. */
export interface Ed25519KeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

/** Options of `startTelnyxSimulator`. */
export interface TelnyxSimulatorOptions {
  /** The API key clients must present as `Authorization: Bearer <apiKey>`. */
  readonly apiKey: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  readonly host?: string;
  /** Webhook signing keys; pass one to keep `publicKey` stable across restarts (a fresh pair otherwise). */
  readonly publicKeyPair?: Ed25519KeyPair;
  /** Retries per webhook URL after the first attempt (Telnyx: 3), then the failover URL. */
  readonly webhookRetries?: number;
  /** Pause between webhook attempts; real Telnyx waits longer, tests want it short. */
  readonly webhookRetryDelayMs?: number;
  /** Telnyx wants a 2xx within 2 s; a slower receiver counts as a failed attempt. */
  readonly webhookTimeoutMs?: number;
  /** Messaging profile reported when the request names none. */
  readonly messagingProfileId?: string;
  /**
   * Keep only the newest N accepted messages (ledger entries, `GET /v2/messages/{id}`, receipt delivery
   * records) plus older ones whose receipts are still being posted, and the newest N inbound
   * deliveries, so a long run's memory stays flat. Counts stay totals (`ledger.size`,
   * `/__admin/counts`); a dropped message's lookup answers 404 like an unknown id. Default: keep
   * everything (tests use the whole ledger as their "sent exactly once" witness).
   */
  readonly retainMessages?: number;
}

/** An inbound SMS from a handset to one of our numbers. */
export interface TelnyxInbound {
  /** Our number (the one the handset texted). */
  readonly to: string;
  /** The handset's number. */
  readonly from: string;
  readonly text: string;
  /** The messaging profile's webhook URL. */
  readonly url: string;
  readonly failoverUrl?: string;
}

/** A running Telnyx simulator. */
export interface TelnyxSimulator {
  /** What the SDK takes as `baseURL`: `http://127.0.0.1:PORT/v2`. */
  readonly baseUrl: string;
  /** `http://127.0.0.1:PORT` (admin endpoints live under `/__admin/`). */
  readonly origin: string;
  /** The webhook verification key: base64 of the raw 32-byte ed25519 public key, as Mission Control shows it. */
  readonly publicKey: string;
  /** What was accepted; with `retainMessages`, `entries` is the window and `size` the total. */
  readonly ledger: Ledger;
  readonly faults: FaultController;
  /** Every webhook delivery (receipts and inbound) with its attempts; with `retainMessages`, the kept ones. */
  readonly deliveries: readonly DeliveryRecord[];
  /** Posts a signed `message.received` webhook and resolves once it is delivered or given up on. */
  sendInbound(message: TelnyxInbound): Promise<DeliveryRecord>;
  /** Waits for every scheduled webhook to be delivered or given up on. */
  settled(): Promise<void>;
  /** Stops listening, abandons pending webhooks and cuts held responses. */
  close(): Promise<void>;
}

type ToStatus = 'queued' | 'sent' | 'delivered' | 'delivery_failed';

interface StoredMessage {
  payload: Record<string, unknown> & { to: { phone_number: string; status: string }[] };
  readonly urls: string[];
}

// Telnyx error bodies: `{"errors":[{code, title, detail, source?}]}` with the code as a string.
function telnyxError(code: string, title: string, detail: string, pointer?: string): unknown {
  const error: Record<string, unknown> = { code, title, detail };
  if (pointer) error.source = { pointer };
  return { errors: [error] };
}

const PERMANENT: Record<string, { code: string; title: string; detail: string }> = {
  invalidNumber: {
    code: '10002',
    title: 'Invalid phone number',
    detail: 'The destination number is invalid or not routable.',
  },
  optedOut: {
    code: '40300',
    title: 'Blocked due to STOP message',
    detail: 'The recipient replied STOP; they must reply START before messages can be sent to them.',
  },
  contentRejected: {
    code: '40003',
    title: 'Blocked as spam',
    detail: 'The message content was rejected by spam filtering.',
  },
};

const DELIVERY_TITLES: Record<string, string> = {
  '40001': 'Not routable',
  '40002': 'Blocked as spam - temporary',
  '40003': 'Blocked as spam - permanent',
  '40005': 'Message expired during transmission',
  '40006': 'Recipient server unavailable',
  '40008': 'Undeliverable',
  '40009': 'Invalid message body',
};

const E164 = /^\+[1-9]\d{1,14}$/;
const SHORT_CODE = /^\d{3,8}$/;

function isoTelnyx(d: Date): string {
  // Telnyx writes offsets as +00:00 rather than Z.
  return d.toISOString().replace('Z', '+00:00');
}

/** Base64 of the raw 32-byte ed25519 public key: the form Telnyx publishes and `webhooks.unwrap` expects. */
export function telnyxPublicKeyBase64(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('expected an ed25519 public key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/** Signs a webhook body the way Telnyx does: ed25519 over `${timestamp}|${rawBody}`. */
export function signTelnyxWebhook(privateKey: KeyObject, rawBody: string, timestamp: string): string {
  return sign(null, Buffer.from(`${timestamp}|${rawBody}`, 'utf8'), privateKey).toString('base64');
}

/** Starts a Telnyx simulator on loopback. */
export async function startTelnyxSimulator(options: TelnyxSimulatorOptions): Promise<TelnyxSimulator> {
  const keys = options.publicKeyPair ?? generateKeyPairSync('ed25519');
  const publicKey = telnyxPublicKeyBase64(keys.publicKey);
  const profileId = options.messagingProfileId ?? randomUUID();
  const organizationId = randomUUID();
  const expectedAuth = Buffer.from(`Bearer ${options.apiKey}`);
  const { ledger, messages, poster, messageWindow } = simulatorStores<StoredMessage>(options.retainMessages, {
    retries: options.webhookRetries ?? 3,
    retryDelayMs: options.webhookRetryDelayMs ?? 50,
    timeoutMs: options.webhookTimeoutMs ?? 2_000,
  });

  // Filled in once the server listens; the controller only needs it when a fault is applied.
  let setRefusing: (on: boolean) => Promise<void> = async () => {};
  const faults = new FaultController({ setRefusing: (on) => setRefusing(on) });

  function authorized(req: http.IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth);
  }

  function signed(event: Record<string, unknown>) {
    return (url: string, attempt: number): SignedRequest => {
      const body = JSON.stringify({ data: event, meta: { attempt, delivered_to: url } });
      const timestamp = String(Math.floor(Date.now() / 1000));
      return {
        body,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'telnyx-webhooks',
          'telnyx-timestamp': timestamp,
          'telnyx-signature-ed25519': signTelnyxWebhook(keys.privateKey, body, timestamp),
        },
      };
    };
  }

  function event(eventType: string, payload: unknown, at: Date): Record<string, unknown> {
    return {
      event_type: eventType,
      id: randomUUID(),
      occurred_at: isoTelnyx(at),
      payload,
      record_type: 'event',
    };
  }

  function withStatus(stored: StoredMessage, status: ToStatus, extra: Record<string, unknown>) {
    const to = stored.payload.to.map((t) => ({ ...t, status }));
    stored.payload = { ...stored.payload, ...extra, to };
    return structuredClone(stored.payload);
  }

  async function runReceipts(id: string, signal: AbortSignal, kept?: RetainedMessage): Promise<void> {
    const stored = messages.get(id);
    if (!stored) return;
    const to = stored.payload.to[0]?.phone_number ?? '';
    const behaviour = faults.receiptBehaviour(to);
    // Without a webhook URL (or with dropped receipts) the message still progresses, so a lookup
    // at GET /v2/messages/{id} shows its final status.
    const silent = behaviour.drop === true || stored.urls.length === 0;
    if (!silent) await pause(behaviour.delayMs ?? 0, signal);
    const sentAt = new Date();
    const sent = event('message.sent', withStatus(stored, 'sent', { sent_at: isoTelnyx(sentAt) }), sentAt);
    const fail = behaviour.failDelivery;
    const doneAt = new Date(sentAt.getTime() + 1);
    let finalPayload: unknown;
    if (fail) {
      const code = typeof fail === 'object' && fail.code !== undefined ? String(fail.code) : '40008';
      const errors = [
        {
          code,
          title: DELIVERY_TITLES[code] ?? 'Delivery failed',
          detail: 'The message could not be delivered.',
        },
      ];
      finalPayload = withStatus(stored, 'delivery_failed', { completed_at: isoTelnyx(doneAt), errors });
    } else {
      finalPayload = withStatus(stored, 'delivered', { completed_at: isoTelnyx(doneAt) });
    }
    const finalized = event('message.finalized', finalPayload, doneAt);
    if (silent) return;
    const order = behaviour.outOfOrderReceipts ? [finalized, sent] : [sent, finalized];
    for (const ev of order) {
      const copies = behaviour.duplicateReceipts ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        if (signal.aborted) return;
        await poster.deliver(String(ev.event_type), id, stored.urls, signed(ev), (r) =>
          kept?.records.push(r),
        );
      }
    }
  }

  async function handleSend(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const fault: ResolvedFault | undefined = faults.takeRequestFault();
    if (fault) await pause(fault.latencyMs, poster.signal);
    const effect = fault?.effect ?? { kind: 'none' };
    if (effect.kind === 'status5xx') {
      if (effect.carrierBody) {
        sendJson(
          res,
          effect.status,
          telnyxError('10007', 'Unexpected error', 'An unexpected error occurred. Please try again later.'),
        );
      } else sendProxyError(res, effect.status);
      return;
    }
    if (effect.kind === 'rateLimit') {
      // x-ratelimit-reset as seconds until the window resets (verify: could be an epoch time).
      sendJson(
        res,
        429,
        telnyxError(
          '10011',
          'Too many requests',
          'You have exceeded the rate limit. Please try again later.',
        ),
        {
          'x-ratelimit-limit': '50',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(effect.retryAfterSeconds),
        },
      );
      return;
    }
    if (effect.kind === 'reset' && !effect.afterAccept) {
      req.socket.destroy();
      return;
    }
    if (effect.kind === 'queueFull') {
      sendJson(res, 429, telnyxError('40318', 'Message queue full', 'The message queue is full.'));
      return;
    }
    if (effect.kind === 'authFailure' || !authorized(req)) {
      sendJson(
        res,
        401,
        telnyxError(
          '10009',
          'Authentication failed',
          'The API key looks malformed. Check that you copied it correctly.',
        ),
      );
      return;
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      sendJson(res, 400, telnyxError('10015', 'Bad Request', 'The request body is not a valid JSON object.'));
      return;
    }
    const str = (k: string): string | undefined =>
      typeof body[k] === 'string' ? (body[k] as string) : undefined;
    const to = str('to');
    const from = str('from');
    const text = str('text');
    if (to === undefined) {
      sendJson(res, 400, telnyxError('10015', 'Bad Request', "The 'to' parameter is required.", '/to'));
      return;
    }
    if (!E164.test(to) && !SHORT_CODE.test(to)) {
      sendJson(
        res,
        400,
        telnyxError(
          '10016',
          'Phone number must be in +E.164 format',
          "The 'to' number is not in +E.164 format.",
          '/to',
        ),
      );
      return;
    }
    if (from === undefined && str('messaging_profile_id') === undefined) {
      sendJson(
        res,
        400,
        telnyxError('10015', 'Bad Request', "Either 'from' or 'messaging_profile_id' is required.", '/from'),
      );
      return;
    }
    if (text === undefined || text.length === 0) {
      sendJson(
        res,
        400,
        telnyxError('10015', 'Bad Request', "The 'text' parameter is required for SMS.", '/text'),
      );
      return;
    }
    const recipient = faults.recipientFault(to);
    if (recipient?.error) {
      const e = PERMANENT[recipient.error]!;
      const code = recipient.code === undefined ? e.code : String(recipient.code);
      // HTTP 400 for synchronous per-message errors (verify for 40300).
      sendJson(res, 400, telnyxError(code, e.title, e.detail, '/to'));
      return;
    }

    const id = randomUUID();
    const now = new Date();
    const requested = str('encoding');
    const seg = carrierSegments(text, requested === 'gsm7' || requested === 'ucs2' ? requested : undefined);
    const webhookUrl = str('webhook_url');
    const failoverUrl = str('webhook_failover_url');
    const payload = {
      record_type: 'message',
      direction: 'outbound',
      id,
      type: 'SMS',
      messaging_profile_id: str('messaging_profile_id') ?? profileId,
      organization_id: organizationId,
      from: { phone_number: from ?? '', carrier: 'Telnyx', line_type: 'Wireless' },
      to: [{ phone_number: to, status: 'queued', carrier: 'T-MOBILE USA, INC.', line_type: 'Wireless' }],
      cc: [],
      text,
      subject: null,
      media: [],
      webhook_url: webhookUrl ?? null,
      webhook_failover_url: failoverUrl ?? null,
      encoding: seg.encoding,
      parts: seg.parts,
      num_chars: text.length,
      tags: [],
      cost: { amount: (0.004 * seg.parts).toFixed(4), currency: 'USD' },
      cost_breakdown: {
        carrier_fee: { amount: (0.003 * seg.parts).toFixed(5), currency: 'USD' },
        rate: { amount: (0.001 * seg.parts).toFixed(5), currency: 'USD' },
      },
      tcr_campaign_id: null,
      tcr_campaign_billable: false,
      tcr_campaign_registered: null,
      smart_encoding_applied: false,
      received_at: isoTelnyx(now),
      sent_at: null,
      completed_at: null,
      valid_until: isoTelnyx(new Date(now.getTime() + 4 * 3_600_000)),
      wait_seconds: 0,
      errors: [],
    };
    messages.set(id, {
      payload: structuredClone(payload),
      urls: [webhookUrl, failoverUrl].filter((u): u is string => typeof u === 'string' && u.length > 0),
    });
    const entry: LedgerEntry = {
      carrier: 'telnyx',
      carrierMessageId: id,
      to,
      from: from ?? '',
      text,
      callbackUrl: webhookUrl,
      acceptedAt: now,
      response:
        effect.kind === 'reset' ? 'reset' : effect.kind === 'timeoutAfterAccept' ? 'withheld' : 'answered',
      fields: body,
    };
    ledger.record(entry);
    const kept = messageWindow?.admit(id, entry);
    poster.run(async (signal) => {
      try {
        await runReceipts(id, signal, kept);
      } finally {
        if (kept) messageWindow?.receiptsEnded(kept);
      }
    });

    if (effect.kind === 'reset') req.socket.destroy();
    else if (effect.kind === 'timeoutAfterAccept') {
      // Never answer: the client's timeout fires while the message is already on its way.
    } else sendJson(res, 200, { data: payload });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (await handleAdmin(req, res, path, faults, ledger, poster)) return;
    if (path === '/v2/messages' && req.method === 'POST') {
      await handleSend(req, res);
      return;
    }
    const one = /^\/v2\/messages\/([0-9a-f-]{36})$/.exec(path);
    if (one && req.method === 'GET') {
      if (!authorized(req)) {
        sendJson(res, 401, telnyxError('10009', 'Authentication failed', 'The API key is not valid.'));
        return;
      }
      const stored = messages.get(one[1]!);
      if (stored) sendJson(res, 200, { data: stored.payload });
      else
        sendJson(
          res,
          404,
          telnyxError('10005', 'Resource not found', 'The requested message was not found.'),
        );
      return;
    }
    sendJson(
      res,
      404,
      telnyxError('10005', 'Resource not found', 'The requested resource or URL could not be found.'),
    );
  }

  const server = await startHttpServer(handle, { port: options.port, host: options.host });
  setRefusing = (on) => server.setRefusing(on);

  return {
    baseUrl: `${server.origin}/v2`,
    origin: server.origin,
    publicKey,
    ledger,
    faults,
    get deliveries() {
      return poster.records;
    },
    sendInbound(message) {
      return poster.track(async () => {
        const now = new Date();
        const seg = carrierSegments(message.text);
        const payload = {
          record_type: 'message',
          direction: 'inbound',
          id: randomUUID(),
          type: 'SMS',
          messaging_profile_id: profileId,
          organization_id: organizationId,
          from: { phone_number: message.from, carrier: 'T-Mobile USA', line_type: 'Wireless' },
          to: [
            {
              phone_number: message.to,
              status: 'webhook_delivered',
              carrier: 'Telnyx',
              line_type: 'Wireless',
            },
          ],
          cc: [],
          text: message.text,
          subject: null,
          media: [],
          encoding: seg.encoding,
          parts: seg.parts,
          tags: [],
          cost: null,
          received_at: isoTelnyx(now),
          sent_at: null,
          completed_at: null,
          valid_until: null,
          webhook_url: message.url,
          webhook_failover_url: message.failoverUrl ?? null,
          errors: [],
        };
        const urls = message.failoverUrl ? [message.url, message.failoverUrl] : [message.url];
        const record = await poster.deliver(
          'message.received',
          payload.id,
          urls,
          signed(event('message.received', payload, now)),
        );
        messageWindow?.inboundEnded(record);
        return record;
      });
    },
    settled: () => poster.settled(),
    async close() {
      faults.dispose();
      await poster.close();
      await server.close();
    },
  };
}

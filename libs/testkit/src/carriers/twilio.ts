// A Twilio Programmable Messaging simulator: `POST /2010-04-01/Accounts/{Sid}/Messages.json` as the
// official SDK sends it, `X-Twilio-Signature`-signed status callbacks and inbound webhooks that
// `twilio.validateRequest` accepts, and the faults the dispatcher must classify (reference/carriers.md).
//
// Shapes follow the twilio 6.x SDK (MessageResource in rest/api/v2010/account/message.d.ts).

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { FaultController } from './faults.ts';
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

/** Options of `startTwilioSimulator`. */
export interface TwilioSimulatorOptions {
  /** The account SID (`AC…`): Basic-auth user and path segment. */
  readonly accountSid: string;
  /** The auth token: Basic-auth password and the key of `X-Twilio-Signature`. */
  readonly authToken: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  readonly host?: string;
  /** Sender the messaging service picks when a request names `MessagingServiceSid` instead of `From`. */
  readonly messagingServiceFrom?: string;
  /** Retries per callback after the first attempt; Twilio does not retry status callbacks by default, hence 0. */
  readonly callbackRetries?: number;
  readonly callbackRetryDelayMs?: number;
  /** Per-attempt deadline (Twilio gives up after about 15 s). */
  readonly callbackTimeoutMs?: number;
  /**
   * Keep only the newest N accepted messages (ledger entries, `GET …/Messages/{Sid}.json`, status
   * callback delivery records) plus older ones whose callbacks are still being posted, and the newest
   * N inbound deliveries, so a long run's memory stays flat. Counts stay totals (`ledger.size`,
   * `/__admin/counts`); a dropped message's lookup answers 404 (20404) like an unknown SID. Default:
   * keep everything (tests use the whole ledger as their "sent exactly once" witness).
   */
  readonly retainMessages?: number;
}

/** An inbound SMS from a handset to one of our numbers. */
export interface TwilioInbound {
  /** Our number (the one the handset texted). */
  readonly to: string;
  /** The handset's number. */
  readonly from: string;
  readonly text: string;
  /** The number's messaging webhook URL. */
  readonly url: string;
}

/** A running Twilio simulator. */
export interface TwilioSimulator {
  /** `http://127.0.0.1:PORT`: what replaces `https://api.twilio.com` (set `client.api.baseUrl` to it). */
  readonly baseUrl: string;
  /** What was accepted; with `retainMessages`, `entries` is the window and `size` the total. */
  readonly ledger: Ledger;
  readonly faults: FaultController;
  /** Every webhook delivery (status callbacks and inbound) with its attempts; with `retainMessages`, the kept ones. */
  readonly deliveries: readonly DeliveryRecord[];
  /** Posts a signed inbound-message webhook and resolves once it is delivered or given up on. */
  sendInbound(message: TwilioInbound): Promise<DeliveryRecord>;
  /** Waits for every scheduled callback to be delivered or given up on. */
  settled(): Promise<void>;
  /** Stops listening, abandons pending callbacks and cuts held responses. */
  close(): Promise<void>;
}

type TwilioStatus = 'queued' | 'accepted' | 'sent' | 'delivered' | 'undelivered' | 'failed';

interface StoredMessage {
  resource: Record<string, unknown> & { status: TwilioStatus };
  readonly callbackUrl: string | undefined;
  readonly from: string;
  readonly to: string;
  readonly messagingServiceSid: string | undefined;
}

const API_VERSION = '2010-04-01';
const E164 = /^\+[1-9]\d{1,14}$/;

// Twilio error bodies: `{code, message, more_info, status}` with a numeric code. Messages leave the
// phone number out (Twilio sometimes echoes it) so a client logging `error.message` logs no number.
function twilioError(code: number, message: string, status: number): unknown {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

const PERMANENT: Record<string, { code: number; message: string }> = {
  invalidNumber: { code: 21211, message: "Invalid 'To' Phone Number" },
  optedOut: { code: 21610, message: 'Attempt to send to unsubscribed recipient' },
  contentRejected: { code: 30007, message: 'Message filtered' },
};

/** Twilio's date format in resources: RFC 2822 with a numeric zone. */
function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

/** `RawDlrDoneDate` as carriers report it: YYMMDDhhmm in UTC. */
function rawDlrDoneDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}

function newSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** Computes `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL followed by the sorted params as key+value. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** Starts a Twilio simulator on loopback. */
export async function startTwilioSimulator(options: TwilioSimulatorOptions): Promise<TwilioSimulator> {
  const { accountSid, authToken } = options;
  const expectedAuth = Buffer.from(`Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`);
  const { ledger, messages, poster, messageWindow } = simulatorStores<StoredMessage>(options.retainMessages, {
    retries: options.callbackRetries ?? 0,
    retryDelayMs: options.callbackRetryDelayMs ?? 50,
    timeoutMs: options.callbackTimeoutMs ?? 15_000,
  });
  let setRefusing: (on: boolean) => Promise<void> = async () => {};
  const faults = new FaultController({ setRefusing: (on) => setRefusing(on) });

  function authorized(req: http.IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth);
  }

  function signed(params: Record<string, string>, idempotencyToken: string) {
    return (url: string): SignedRequest => ({
      body: new URLSearchParams(params).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'TwilioProxy/1.1',
        'i-twilio-idempotency-token': idempotencyToken,
        // Signed over the URL exactly as posted, which is what the receiver must rebuild.
        'x-twilio-signature': twilioSignature(authToken, url, params),
      },
    });
  }

  function callbackParams(stored: StoredMessage, status: TwilioStatus, at: Date, errorCode?: number) {
    const sid = String(stored.resource.sid);
    const params: Record<string, string> = {
      SmsSid: sid,
      SmsStatus: status,
      MessageStatus: status,
      To: stored.to,
      MessageSid: sid,
      AccountSid: accountSid,
      From: stored.from,
      ApiVersion: API_VERSION,
    };
    if (stored.messagingServiceSid) params.MessagingServiceSid = stored.messagingServiceSid;
    if (errorCode !== undefined) params.ErrorCode = String(errorCode);
    if (status === 'delivered' || status === 'undelivered') params.RawDlrDoneDate = rawDlrDoneDate(at);
    return params;
  }

  async function runCallbacks(sid: string, signal: AbortSignal, kept?: RetainedMessage): Promise<void> {
    const stored = messages.get(sid);
    if (!stored) return;
    const behaviour = faults.receiptBehaviour(stored.to);
    const silent = behaviour.drop === true || !stored.callbackUrl;
    if (!silent) await pause(behaviour.delayMs ?? 0, signal);
    const fail = behaviour.failDelivery;
    const failStatus = typeof fail === 'object' && fail.status ? fail.status : 'undelivered';
    const failCode = typeof fail === 'object' && fail.code !== undefined ? Number(fail.code) : 30003;
    const sentAt = new Date();
    const doneAt = new Date(sentAt.getTime() + 1);
    // A `failed` message never left Twilio, so there is no `sent` before it.
    const steps: { status: TwilioStatus; at: Date; errorCode?: number }[] = fail
      ? failStatus === 'failed'
        ? [{ status: 'failed', at: doneAt, errorCode: failCode }]
        : [
            { status: 'sent', at: sentAt },
            { status: 'undelivered', at: doneAt, errorCode: failCode },
          ]
      : [
          { status: 'sent', at: sentAt },
          { status: 'delivered', at: doneAt },
        ];
    const final = steps[steps.length - 1]!;
    stored.resource = {
      ...stored.resource,
      status: final.status,
      date_sent: rfc2822(sentAt),
      date_updated: rfc2822(doneAt),
      error_code: final.errorCode ?? null,
      error_message: null,
      price: '-0.00790',
    };
    if (silent || !stored.callbackUrl) return;
    if (behaviour.outOfOrderReceipts) steps.reverse();
    for (const step of steps) {
      const params = callbackParams(stored, step.status, step.at, step.errorCode);
      const sign = signed(params, `${randomBytes(16).toString('hex')}-${sid}`);
      const copies = behaviour.duplicateReceipts ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        if (signal.aborted) return;
        await poster.deliver(step.status, sid, [stored.callbackUrl], sign, (r) => kept?.records.push(r));
      }
    }
  }

  async function handleSend(req: http.IncomingMessage, res: http.ServerResponse, pathAccount: string) {
    const raw = await readBody(req);
    const fault = faults.takeRequestFault();
    if (fault) await pause(fault.latencyMs, poster.signal);
    const effect = fault?.effect ?? { kind: 'none' };
    if (effect.kind === 'status5xx') {
      if (effect.carrierBody) {
        sendJson(
          res,
          effect.status,
          twilioError(20500, 'An internal server error has occurred', effect.status),
        );
      } else sendProxyError(res, effect.status);
      return;
    }
    if (effect.kind === 'rateLimit') {
      sendJson(res, 429, twilioError(20429, 'Too Many Requests', 429), {
        'retry-after': String(effect.retryAfterSeconds),
      });
      return;
    }
    if (effect.kind === 'reset' && !effect.afterAccept) {
      req.socket.destroy();
      return;
    }
    if (effect.kind === 'queueFull') {
      sendJson(
        res,
        400,
        twilioError(21611, "This 'From' number has exceeded the maximum number of queued messages", 400),
      );
      return;
    }
    if (effect.kind === 'authFailure' || !authorized(req)) {
      sendJson(res, 401, twilioError(20003, 'Authenticate', 401), {
        'www-authenticate': 'Basic realm="Twilio API"',
      });
      return;
    }
    if (pathAccount !== accountSid) {
      sendJson(
        res,
        404,
        twilioError(
          20404,
          `The requested resource /${API_VERSION}/Accounts/.../Messages.json was not found`,
          404,
        ),
      );
      return;
    }
    const form = new URLSearchParams(raw);
    const fields = Object.fromEntries(form);
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? undefined;
    const service = form.get('MessagingServiceSid') ?? undefined;
    const text = form.get('Body') ?? '';
    const callbackUrl = form.get('StatusCallback') ?? undefined;
    const reject = (code: number, message: string): void =>
      sendJson(res, 400, twilioError(code, message, 400));
    if (!to) return reject(21604, "A 'To' phone number is required.");
    if (!E164.test(to)) return reject(21211, "Invalid 'To' Phone Number");
    if (!from && !service) return reject(21603, "A 'From' or 'MessagingServiceSid' parameter is required.");
    if (!text) return reject(21602, 'Message body is required.');
    if (text.length > 1600)
      return reject(21617, 'The concatenated message body exceeds the 1600 character limit.');
    if (callbackUrl !== undefined && !URL.canParse(callbackUrl))
      return reject(21609, 'Invalid StatusCallback url');
    const recipient = faults.recipientFault(to);
    if (recipient?.error) {
      const e = PERMANENT[recipient.error]!;
      return reject(recipient.code === undefined ? e.code : Number(recipient.code), e.message);
    }

    const sid = newSid('SM');
    const now = new Date();
    const seg = carrierSegments(text);
    const uri = `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}.json`;
    const resource = {
      account_sid: accountSid,
      api_version: API_VERSION,
      body: text,
      date_created: rfc2822(now),
      date_sent: null,
      date_updated: rfc2822(now),
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      // With a messaging service Twilio picks the sender later: `from` is null and status `accepted`.
      from: from ?? null,
      messaging_service_sid: service ?? null,
      num_media: '0',
      num_segments: String(seg.parts),
      price: null,
      price_unit: 'USD',
      sid,
      status: (service && !from ? 'accepted' : 'queued') as TwilioStatus,
      subresource_uris: { media: `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to,
      uri,
    };
    messages.set(sid, {
      resource: { ...resource },
      callbackUrl,
      from: from ?? options.messagingServiceFrom ?? '+15005550006',
      to,
      messagingServiceSid: service,
    });
    const entry: LedgerEntry = {
      carrier: 'twilio',
      carrierMessageId: sid,
      to,
      from: from ?? service ?? '',
      text,
      callbackUrl,
      acceptedAt: now,
      response:
        effect.kind === 'reset' ? 'reset' : effect.kind === 'timeoutAfterAccept' ? 'withheld' : 'answered',
      fields,
    };
    ledger.record(entry);
    const kept = messageWindow?.admit(sid, entry);
    poster.run(async (signal) => {
      try {
        await runCallbacks(sid, signal, kept);
      } finally {
        if (kept) messageWindow?.receiptsEnded(kept);
      }
    });

    if (effect.kind === 'reset') req.socket.destroy();
    else if (effect.kind === 'timeoutAfterAccept') {
      // Never answer: the client's timeout fires while the message is already on its way.
    } else sendJson(res, 201, resource);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (await handleAdmin(req, res, path, faults, ledger, poster)) return;
    const create = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (create && req.method === 'POST') {
      await handleSend(req, res, decodeURIComponent(create[1]!));
      return;
    }
    const fetchOne = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/(SM[0-9a-f]{32})\.json$/.exec(path);
    if (fetchOne && req.method === 'GET') {
      if (!authorized(req)) {
        sendJson(res, 401, twilioError(20003, 'Authenticate', 401));
        return;
      }
      const stored = fetchOne[1] === accountSid ? messages.get(fetchOne[2]!) : undefined;
      if (stored) sendJson(res, 200, stored.resource);
      else sendJson(res, 404, twilioError(20404, 'The requested resource was not found', 404));
      return;
    }
    sendJson(res, 404, twilioError(20404, 'The requested resource was not found', 404));
  }

  const server = await startHttpServer(handle, { port: options.port, host: options.host });
  setRefusing = (on) => server.setRefusing(on);

  return {
    baseUrl: server.origin,
    ledger,
    faults,
    get deliveries() {
      return poster.records;
    },
    sendInbound(message) {
      return poster.track(async () => {
        const sid = newSid('SM');
        const params: Record<string, string> = {
          SmsMessageSid: sid,
          NumMedia: '0',
          SmsSid: sid,
          SmsStatus: 'received',
          Body: message.text,
          To: message.to,
          NumSegments: String(carrierSegments(message.text).parts),
          MessageSid: sid,
          AccountSid: accountSid,
          From: message.from,
          ApiVersion: API_VERSION,
        };
        const record = await poster.deliver(
          'received',
          sid,
          [message.url],
          signed(params, `${randomBytes(16).toString('hex')}-${sid}`),
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

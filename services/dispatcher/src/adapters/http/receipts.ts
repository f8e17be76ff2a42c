import { instrumentHttp } from '@massivesms/metrics';
import { traceFastify } from '@massivesms/telemetry';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ReceiptResult, VerifiedReceipt } from '../../application/apply-receipt.ts';
import { parseCallbackPath } from '../../domain/callback.ts';
import { HELP_TEXT, inboundKeyword } from '../../domain/keywords.ts';
import { mapTelnyxReceipt, mapTwilioReceipt } from '../../domain/receipts.ts';
import { telnyxWebhookVerifier, twilioWebhookVerifier } from './signatures.ts';

export interface ReceiptIngressOptions {
  /** The cell's Telnyx account public key (base64, ed25519). */
  readonly telnyxPublicKey: string;
  /** The auth token of the cell's Twilio region (US1 or IE1). */
  readonly twilioAuthToken: string;
  /** The public base URL the carriers call (behind a proxy, the URL Twilio signed is rebuilt from it). */
  readonly publicBaseUrl: () => string;
  /** Takes a verified receipt (applied, or parked in the inbox); the carrier gets its 2xx after. */
  readonly apply: (receipt: VerifiedReceipt) => Promise<ReceiptResult | 'queued'>;
  readonly onResult?: (carrier: string, result: ReceiptResult | 'queued' | 'rejected_signature') => void;
  /** Inbound messages (STOP, START, HELP) from recipients, verified like receipts. */
  readonly inbound?: (message: {
    carrier: 'telnyx' | 'twilio';
    /** The carrier's id of the inbound message (the same when the carrier retries the webhook). */
    inboundId: string;
    from: string;
    to: string;
    text: string;
  }) => Promise<unknown>;
  /** `/healthz`, `/readyz` and `/metrics` on the same port. */
  readonly ops?: { ready: () => boolean; metrics: Registry };
}

interface TelnyxEvent {
  data?: {
    id?: string;
    event_type?: string;
    payload?: { id?: string; to?: { status?: string }[]; errors?: { code?: string }[] };
  };
}

/**
 * The carrier callback ingress: signatures verified (the SDKs' rules, keys built once) before anything is
 * read (a tampered, wrong-key or stale request changes nothing and gets 403), then one receipt
 * applied. Answers fast: carriers retry slow or failed deliveries.
 */
export async function buildReceiptIngress(options: ReceiptIngressOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  traceFastify(app);
  // Signatures cover the exact bytes: keep the raw body as a string for both content types.
  app.addContentTypeParser(
    ['application/json', 'application/x-www-form-urlencoded'],
    { parseAs: 'string' },
    (_req, body, done) => done(null, body),
  );
  // Keys built once (the SDKs rebuild them per request); same rules as the SDKs' (signatures.ts).
  const verifyTelnyx = telnyxWebhookVerifier(options.telnyxPublicKey);
  const verifyTwilio = twilioWebhookVerifier(options.twilioAuthToken);
  const report = options.onResult ?? (() => {});

  const ops = options.ops;
  if (ops) {
    instrumentHttp(app, ops.metrics);
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (_request, reply) =>
      ops.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' }),
    );
    app.get('/metrics', async (_request, reply) =>
      reply.type(ops.metrics.contentType).send(await ops.metrics.metrics()),
    );
  }

  app.post('/receipts/telnyx/:controllerId/:messageId', async (request, reply) => {
    const target = parseCallbackPath(request.url.split('?')[0]!);
    if (target?.carrier !== 'telnyx') return reply.code(404).send();
    let event: TelnyxEvent;
    try {
      event = verifyTelnyx(request.body as string, request.headers) as TelnyxEvent;
    } catch {
      report('telnyx', 'rejected_signature');
      return reply.code(403).send();
    }
    const data = event.data;
    if (!data?.id || !data.payload?.id || !data.event_type) return reply.code(400).send();
    const result = await options.apply({
      carrier: 'telnyx',
      controllerId: target.controllerId,
      messageId: target.messageId,
      carrierMessageId: data.payload.id,
      dedupeKey: `telnyx:${data.id}`,
      mapping: mapTelnyxReceipt({
        eventType: data.event_type,
        to: data.payload.to,
        errors: data.payload.errors,
      }),
    });
    report('telnyx', result);
    return reply.code(200).send();
  });

  app.post('/receipts/twilio/:controllerId/:messageId', async (request, reply) => {
    const target = parseCallbackPath(request.url.split('?')[0]!);
    if (target?.carrier !== 'twilio') return reply.code(404).send();
    const params = Object.fromEntries(new URLSearchParams(request.body as string));
    const signature = request.headers['x-twilio-signature'];
    const url = `${options.publicBaseUrl().replace(/\/$/, '')}${request.url}`;
    if (typeof signature !== 'string' || !verifyTwilio(signature, url, params)) {
      report('twilio', 'rejected_signature');
      return reply.code(403).send();
    }
    if (!params.MessageSid || !params.MessageStatus) return reply.code(400).send();
    const result = await options.apply({
      carrier: 'twilio',
      controllerId: target.controllerId,
      messageId: target.messageId,
      carrierMessageId: params.MessageSid,
      dedupeKey: `twilio:${params.MessageSid}:${params.MessageStatus}:${params.ErrorCode ?? ''}:${params.RawDlrDoneDate ?? ''}`,
      mapping: mapTwilioReceipt({ messageStatus: params.MessageStatus, errorCode: params.ErrorCode }),
    });
    report('twilio', result);
    return reply.code(200).send();
  });

  const inbound = options.inbound;
  if (inbound) {
    app.post('/inbound/telnyx', async (request, reply) => {
      let event: {
        data?: {
          event_type?: string;
          payload?: {
            id?: string;
            from?: { phone_number?: string };
            to?: { phone_number?: string }[];
            text?: string;
          };
        };
      };
      try {
        event = verifyTelnyx(request.body as string, request.headers) as typeof event;
      } catch {
        report('telnyx', 'rejected_signature');
        return reply.code(403).send();
      }
      const p = event.data?.payload;
      if (
        event.data?.event_type !== 'message.received' ||
        !p?.from?.phone_number ||
        !p.to?.[0]?.phone_number
      ) {
        return reply.code(200).send();
      }
      if (!p.id) return reply.code(400).send(); // every Telnyx message has an id: its audit events need it
      await inbound({
        carrier: 'telnyx',
        inboundId: p.id,
        from: p.from.phone_number,
        to: p.to[0].phone_number,
        text: p.text ?? '',
      });
      return reply.code(200).send();
    });
    app.post('/inbound/twilio', async (request, reply) => {
      const params = Object.fromEntries(new URLSearchParams(request.body as string));
      const signature = request.headers['x-twilio-signature'];
      const url = `${options.publicBaseUrl().replace(/\/$/, '')}${request.url}`;
      if (typeof signature !== 'string' || !verifyTwilio(signature, url, params)) {
        report('twilio', 'rejected_signature');
        return reply.code(403).send();
      }
      if (params.From && params.To) {
        if (!params.MessageSid) return reply.code(400).send(); // Twilio always sends it; audit events need it
        await inbound({
          carrier: 'twilio',
          inboundId: params.MessageSid,
          from: params.From,
          to: params.To,
          text: params.Body ?? '',
        });
      }
      // HELP must be answered: Twilio sends our TwiML reply. STOP/START confirmations are Twilio's own
      // for its default keywords, so those get an empty response.
      const help = inboundKeyword(params.Body ?? '') === 'help';
      return reply
        .code(200)
        .type('text/xml')
        .send(help ? `<Response><Message>${HELP_TEXT}</Message></Response>` : '<Response></Response>');
    });
  }

  await app.ready();
  return app;
}

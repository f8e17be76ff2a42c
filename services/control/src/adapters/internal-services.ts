// Clients of the cell-internal HTTP routes of the services that own the data the control API shows:
// the webhooks service (deliveries, command outcomes) and the audit service (the ledger). The control
// API checks the token and the controller scope first; these only fetch. A service that does not
// answer (down, timed out, 5xx) is a 503 with the route's stable code, never a hang: every call is
// bounded.
import { traceHttpCall } from '@massivesms/telemetry';
import { Pool } from 'undici';
import type {
  AuditCheckpointView,
  AuditLedgerPort,
  AuditPeriod,
  AuditProcessingSummary,
  WebhookCommandOutcome,
  WebhookDeliveriesPort,
  WebhookDeliveryView,
} from '../application/ports.ts';
import { ControlProblem, type ProblemCode } from '../domain/problems.ts';

/** Bounds on one call: connecting, the first byte of the answer, and each pause in its body. */
export interface InternalClientTimeouts {
  readonly connectMs: number;
  readonly responseMs: number;
}

const DEFAULT_TIMEOUTS: InternalClientTimeouts = { connectMs: 2_000, responseMs: 30_000 };

/** Told of each internal call (metrics): the service called, whether it answered below 500, how long it took. */
export type ObserveInternalCall = (service: string, outcome: 'ok' | 'error', seconds: number) => void;

/** One base URL's connection pool; `get` answers the status and body, or throws the unavailable code. */
class InternalClient {
  readonly #pool: Pool;
  readonly #prefix: string;
  readonly #unavailable: ProblemCode;
  readonly #service: string;
  readonly #observe: ObserveInternalCall | undefined;

  constructor(
    baseUrl: string,
    service: string,
    unavailable: ProblemCode,
    timeouts: InternalClientTimeouts,
    observe?: ObserveInternalCall,
  ) {
    const url = new URL(baseUrl);
    this.#prefix = url.pathname.replace(/\/$/, '');
    this.#pool = new Pool(url.origin, {
      connections: 16,
      connectTimeout: timeouts.connectMs,
      headersTimeout: timeouts.responseMs,
      bodyTimeout: timeouts.responseMs,
    });
    this.#unavailable = unavailable;
    this.#service = service;
    this.#observe = observe;
  }

  async get(
    path: string,
    query: Record<string, string> = {},
  ): Promise<{ status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }> {
    const search = new URLSearchParams(query).toString();
    const started = performance.now();
    const observe = (outcome: 'ok' | 'error') =>
      this.#observe?.(this.#service, outcome, (performance.now() - started) / 1_000);
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      // A CLIENT span (no path or query: they name controllers and messages), its context passed on.
      const span = { method: 'GET', propagate: true, attributes: { 'massivesms.service': this.#service } };
      ({ response } = await traceHttpCall(span, async (traceHeaders) => {
        const answer = await this.#pool.request({
          method: 'GET',
          path: `${this.#prefix}${path}${search ? `?${search}` : ''}`,
          headers: traceHeaders,
        });
        return { status: answer.statusCode, response: answer };
      }));
    } catch {
      observe('error');
      throw this.#down('did not answer');
    }
    const body = Buffer.from(await response.body.arrayBuffer().catch(() => new ArrayBuffer(0)));
    observe(response.statusCode >= 500 ? 'error' : 'ok');
    if (response.statusCode >= 500) throw this.#down(`answered ${response.statusCode}`);
    return { status: response.statusCode, body, headers: response.headers };
  }

  async json<T>(path: string, query: Record<string, string> = {}): Promise<T | undefined> {
    const { status, body } = await this.get(path, query);
    if (status === 404) return undefined;
    if (status !== 200) throw this.#down(`answered ${status}`);
    return JSON.parse(body.toString('utf8')) as T;
  }

  #down(what: string): ControlProblem {
    return new ControlProblem(this.#unavailable, `the ${this.#service} service ${what}; try again`);
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

const at = (id: string) => encodeURIComponent(id);

/** The webhooks service's deliveries and command outcomes, over its internal routes. */
export function httpWebhookDeliveries(
  baseUrl: string,
  timeouts: InternalClientTimeouts = DEFAULT_TIMEOUTS,
  observe?: ObserveInternalCall,
): WebhookDeliveriesPort & { close(): Promise<void> } {
  const client = new InternalClient(baseUrl, 'webhooks', 'WEBHOOK_RECOVERY_UNAVAILABLE', timeouts, observe);
  type List = { deliveries: WebhookDeliveryView[] };
  return {
    async forMessage(controllerId, messageId) {
      const found = await client.json<List>(
        `/internal/v1/controllers/${at(controllerId)}/messages/${at(messageId)}/deliveries`,
      );
      return found?.deliveries ?? [];
    },
    async forEndpoint(controllerId, endpointId, since, limit) {
      const found = await client.json<List>(
        `/internal/v1/controllers/${at(controllerId)}/endpoints/${at(endpointId)}/deliveries`,
        { since: since.toISOString(), limit: String(limit) },
      );
      return found?.deliveries ?? [];
    },
    delivery: (controllerId, webhookId) =>
      client.json<WebhookDeliveryView>(
        `/internal/v1/controllers/${at(controllerId)}/deliveries/${at(webhookId)}`,
      ),
    async disabledReason(endpointId, revision) {
      const found = await client.json<{ reason: string | null }>(
        `/internal/v1/endpoints/${at(endpointId)}/disabled`,
        { revision: String(revision) },
      );
      return found?.reason ?? undefined;
    },
    commandOutcome: (controllerId, commandId) =>
      client.json<WebhookCommandOutcome>(
        `/internal/v1/controllers/${at(controllerId)}/commands/${at(commandId)}`,
      ),
    close: () => client.close(),
  };
}

/** The audit service's ledger, over its internal routes. */
export function httpAuditLedger(
  baseUrl: string,
  timeouts: InternalClientTimeouts = DEFAULT_TIMEOUTS,
  observe?: ObserveInternalCall,
): AuditLedgerPort & { close(): Promise<void> } {
  const client = new InternalClient(baseUrl, 'audit', 'AUDIT_LEDGER_UNAVAILABLE', timeouts, observe);
  const period = (p: AuditPeriod) => ({ from: p.from.toISOString(), to: p.to.toISOString() });
  const unavailable = () =>
    new ControlProblem('AUDIT_LEDGER_UNAVAILABLE', 'the audit service did not answer');
  return {
    async verifierKey() {
      const key = await client.json<{ origin: string; verifierKey: string }>('/internal/v1/verifier-key');
      if (!key) throw unavailable();
      return key;
    },
    async exportBundle(controllerId, p) {
      const { status, body, headers } = await client.get(
        `/internal/v1/controllers/${at(controllerId)}/audit-export`,
        period(p),
      );
      if (status === 409) return { kind: 'not_checkpointed' };
      if (status === 422) {
        const { entries, max } = JSON.parse(body.toString('utf8')) as { entries: number; max: number };
        return { kind: 'too_large', entries, max };
      }
      if (status !== 200) throw unavailable();
      // The bytes as the ledger made them: an auditor hashes exactly these.
      return {
        kind: 'bundle',
        bytes: new Uint8Array(body),
        manifest: { entries: Number(headers['massivesms-export-entries'] ?? 0) },
      };
    },
    async processingSummary(controllerId, p) {
      const summary = await client.json<AuditProcessingSummary>(
        `/internal/v1/controllers/${at(controllerId)}/processing-summary`,
        period(p),
      );
      if (!summary) throw unavailable();
      return summary;
    },
    async latestCheckpoint() {
      const found = await client.json<{ checkpoint: AuditCheckpointView | null }>('/internal/v1/checkpoint');
      if (!found) throw unavailable();
      return found.checkpoint;
    },
    close: () => client.close(),
  };
}

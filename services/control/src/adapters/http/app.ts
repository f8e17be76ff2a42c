import fastifySwagger from '@fastify/swagger';
import { cells, webhookEventTypes } from '@massivesms/contracts';
import type { Logger } from '@massivesms/telemetry';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import { z } from 'zod';
import { type ControlService, DEFAULT_ROTATION_GRACE_SECONDS } from '../../application/control-service.ts';
import type { Principal, WebhookDeliveryView } from '../../application/ports.ts';
import { ControlProblem, type ProblemCode, problemTypes } from '../../domain/problems.ts';

export interface AppOptions {
  readonly service: ControlService;
  readonly registry: Registry;
  readonly log: Logger;
  /** Public subprocessor list (DPA §6), generated from the registry in code. */
  readonly subprocessors: () => unknown[];
  /** Instruction document schema, shown in the OpenAPI document. */
  readonly instructionSchema: z.ZodType;
  /** Whether the service is ready for traffic (database reachable, state republished). */
  readonly ready: () => Promise<boolean>;
  /** Observes every registered route (method, URL template). */
  readonly onRoute?: (method: string, url: string) => void;
  /** TLS 1.3-only HTTPS when given. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Route plugins of their own resources (data-subject requests), registered before the app boots. */
  readonly plugins?: readonly ((app: FastifyInstance) => Promise<void>)[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
  .max(128);
const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string(),
  })
  .loose()
  .describe('RFC 9457 problem details; `code` is stable.');
const controllerView = z.object({
  id,
  name: z.string(),
  region: z.enum(cells),
  revision: z.int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const instructionView = z.object({
  controllerId: id,
  version: z.int(),
  sha256: z.string(),
  ref: z.string().describe('Instruction reference carried by every record: `id@version#sha256`.'),
  publishedAt: z.string(),
  publishedBy: z.string(),
  document: z.record(z.string(), z.unknown()),
});
const secretInfo = z.object({
  secretId: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
});
const endpointView = z.object({
  id,
  url: z.string(),
  eventTypes: z.array(z.enum(webhookEventTypes)),
  enabled: z.boolean(),
  revision: z.int(),
  updatedAt: z.string(),
  secrets: z.array(secretInfo).describe('Secret metadata; the secret itself is shown only once.'),
});
const attemptView = z.object({
  attempt: z.int(),
  startedAt: z.string(),
  httpStatus: z.int().nullable(),
  latencyMs: z.number(),
  errorClass: z.string().nullable(),
  responseExcerpt: z.string().nullable().describe("The start of the endpoint's response, truncated."),
  nextAttemptAt: z.string().nullable(),
});
const deliveryView = z
  .object({
    webhookId: z.string().describe('The `webhook-id` header: the same on every attempt and resend.'),
    endpointId: z.string(),
    messageId: z.string().nullable(),
    eventType: z.string(),
    state: z.enum(['pending', 'delivered', 'dead']),
    attempts: z.array(attemptView),
    nextAttemptAt: z.string().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .describe('A webhook delivery and every attempt; never the body, which may hold a phone number.');
const deliveriesView = z.object({ deliveries: z.array(deliveryView) });
const isoTime = z.iso.datetime({ offset: true });
const eventTypes = z.array(z.enum(webhookEventTypes)).min(1);
const controllerParams = z.object({ controllerId: id });
const endpointParams = z.object({ controllerId: id, endpointId: id });
const errors = (...codes: ProblemCode[]) =>
  Object.fromEntries(codes.map((code) => [problemTypes[code].status, problemSchema]));
const auth = [{ bearer: [] }];

function instructionOut(row: {
  controllerId: string;
  version: number;
  sha256: string;
  publishedAt: string;
  publishedBy: string;
  document: Record<string, unknown>;
}) {
  return { ...row, ref: `${row.controllerId}-sms@${row.version}#${row.sha256}` };
}

function endpointOut(e: {
  endpointId?: string;
  id?: string;
  url: string;
  eventTypes: readonly string[];
  enabled: boolean;
  revision: number;
  updatedAt: string;
  secrets?: readonly { secretId: string; createdAt: string; expiresAt: string | null }[];
}) {
  return {
    id: (e.endpointId ?? e.id)!,
    url: e.url,
    eventTypes: [...e.eventTypes] as (typeof webhookEventTypes)[number][],
    enabled: e.enabled,
    revision: e.revision,
    updatedAt: e.updatedAt,
    secrets: (e.secrets ?? []).map((s) => ({
      secretId: s.secretId,
      createdAt: s.createdAt,
      expiresAt: s.expiresAt,
    })),
  };
}

// Field by field, so nothing the port adds later (a body, a lease) reaches a client by accident.
function deliveryOut(d: WebhookDeliveryView) {
  return {
    webhookId: d.webhookId,
    endpointId: d.endpointId,
    messageId: d.messageId,
    eventType: d.eventType,
    state: d.state,
    attempts: d.attempts.map((a) => ({
      attempt: a.attempt,
      startedAt: a.startedAt.toISOString(),
      httpStatus: a.httpStatus,
      latencyMs: a.latencyMs,
      errorClass: a.errorClass,
      responseExcerpt: a.responseExcerpt,
      nextAttemptAt: a.nextAttemptAt?.toISOString() ?? null,
    })),
    nextAttemptAt: d.nextAttemptAt,
    lastError: d.lastError,
    createdAt: d.createdAt,
    finishedAt: d.finishedAt,
  };
}

function sendProblem(
  reply: FastifyReply,
  code: ProblemCode,
  detail: string,
  extra: Record<string, unknown> = {},
) {
  const { status, title } = problemTypes[code];
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: `https://docs.massivesms.example/problems/${code}`,
      title,
      status,
      detail,
      code,
      ...extra,
    });
}

/** Builds the control API (routes, auth, problem+json errors, OpenAPI, health and metrics). */
export async function buildControlApp(options: AppOptions): Promise<FastifyInstance> {
  const { service, log } = options;
  const app = Fastify({
    logger: false,
    ...(options.tls ? { https: { ...options.tls, minVersion: 'TLSv1.3' as const } } : {}),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('principal', undefined);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') options.onRoute?.(method, route.url);
  });

  const requests = new Counter({
    name: 'control_http_requests_total',
    help: 'Control API requests by route template, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [options.registry],
  });
  const duration = new Histogram({
    name: 'control_http_request_duration_seconds',
    help: 'Control API request latency by route template.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [options.registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    duration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500)
      log.error({ route, method: request.method, status: reply.statusCode }, 'request failed');
  });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof ControlProblem)
      return sendProblem(reply, error.code, error.message, { ...error.extra });
    if (hasZodFastifySchemaValidationErrors(error)) {
      return sendProblem(reply, 'REQUEST_INVALID', 'the request does not match the API schema', {
        errors: error.validation.map((v) => ({
          path: `${error.validationContext ?? ''}${v.instancePath}`,
          message: v.message ?? 'invalid',
        })),
      });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      return sendProblem(reply, 'REQUEST_INVALID', (error as Error).message.slice(0, 300));
    }
    log.error({ err: error }, 'unhandled error in control API');
    return sendProblem(reply, 'INTERNAL', 'internal error');
  });
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, 'NOT_FOUND', 'no such route'));

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'MassiveSMS control API',
        version: '1.0.0',
        description:
          'Controllers, instruction documents, webhook endpoints and secrets, scoped tokens, webhook delivery recovery. Errors are application/problem+json with a stable `code`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });

  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (\S+)$/.exec(header);
    const principal = match ? await service.authenticate(match[1]!) : undefined;
    if (!principal) return sendProblem(reply, 'AUTH_REQUIRED', 'send Authorization: Bearer <token>');
    request.principal = principal;
  };

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) =>
    (await options.ready()) ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' }),
  );
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(options.registry.contentType).send(await options.registry.metrics()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const api = app.withTypeProvider<ZodTypeProvider>();
  const principal = (request: FastifyRequest) => request.principal!;

  api.get(
    '/v1/subprocessors',
    {
      schema: {
        summary: 'Public list of subprocessors (DPA §6), with notice and effective dates',
        tags: ['subprocessors'],
        response: { 200: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) },
      },
    },
    async () => ({ items: options.subprocessors() as Record<string, unknown>[] }),
  );

  api.get(
    '/v1/audit/verifier-key',
    {
      schema: {
        summary:
          "The cell's audit ledger verifier key (C2SP signed-note form): signed checkpoints and controller exports verify against it",
        tags: ['audit'],
        response: {
          200: z.object({
            origin: z.string().describe('The log origin: first line of every checkpoint, and the key name.'),
            verifierKey: z
              .string()
              .describe('`<origin>+<key id, 8 hex>+<base64(0x01 ‖ Ed25519 public key)>`'),
          }),
          ...errors('AUDIT_LEDGER_UNAVAILABLE'),
        },
      },
    },
    async () => service.auditVerifierKey(),
  );

  await app.register(async (v1) => {
    v1.addHook('preHandler', authenticate);
    const r = v1.withTypeProvider<ZodTypeProvider>();

    r.post(
      '/v1/controllers',
      {
        schema: {
          summary: 'Create a controller (operator)',
          tags: ['controllers'],
          security: auth,
          body: z.strictObject({
            id: id.optional(),
            name: z.string().min(1).max(200),
            region: z.enum(cells),
          }),
          response: {
            201: controllerView,
            ...errors(
              'REQUEST_INVALID',
              'AUTH_REQUIRED',
              'OPERATOR_ONLY',
              'CONTROLLER_EXISTS',
              'CONTROLLER_WRONG_CELL',
            ),
          },
        },
      },
      async (request, reply) =>
        reply.code(201).send(await service.createController(principal(request), request.body)),
    );
    r.get(
      '/v1/controllers',
      {
        schema: {
          summary: 'List controllers (operator)',
          tags: ['controllers'],
          security: auth,
          response: {
            200: z.object({ items: z.array(controllerView) }),
            ...errors('AUTH_REQUIRED', 'OPERATOR_ONLY'),
          },
        },
      },
      async (request) => ({ items: await service.listControllers(principal(request)) }),
    );
    r.get(
      '/v1/controllers/:controllerId',
      {
        schema: {
          summary: 'Read a controller',
          tags: ['controllers'],
          security: auth,
          params: controllerParams,
          response: { 200: controllerView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
        },
      },
      async (request) => service.getController(principal(request), request.params.controllerId),
    );
    r.patch(
      '/v1/controllers/:controllerId',
      {
        schema: {
          summary: 'Rename a controller (its home region can never change)',
          tags: ['controllers'],
          security: auth,
          params: controllerParams,
          body: z.strictObject({
            name: z.string().min(1).max(200).optional(),
            region: z.enum(cells).optional(),
          }),
          response: {
            200: controllerView,
            ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'CONTROLLER_REGION_IMMUTABLE'),
          },
        },
      },
      async (request) =>
        service.updateController(principal(request), request.params.controllerId, request.body),
    );
    r.post(
      '/v1/controllers/:controllerId/tokens',
      {
        schema: {
          summary: 'Issue a token scoped to this controller (operator); shown once',
          tags: ['tokens'],
          security: auth,
          params: controllerParams,
          response: {
            201: z.object({ tokenId: z.string(), token: z.string() }),
            ...errors('AUTH_REQUIRED', 'OPERATOR_ONLY', 'NOT_FOUND'),
          },
        },
      },
      async (request, reply) =>
        reply
          .code(201)
          .send(await service.issueControllerToken(principal(request), request.params.controllerId)),
    );

    r.post(
      '/v1/controllers/:controllerId/instructions',
      {
        schema: {
          summary: 'Publish a new instruction version (refused with a notice listing every problem)',
          tags: ['instructions'],
          security: auth,
          params: controllerParams,
          body: options.instructionSchema,
          response: { 201: instructionView, ...errors('AUTH_REQUIRED', 'NOT_FOUND', 'INSTRUCTION_REFUSED') },
        },
        // The policy, not the route schema, judges the document, so a refusal lists every problem.
        validatorCompiler: () => (data) => ({ value: data }),
      },
      async (request, reply) =>
        reply
          .code(201)
          .send(
            instructionOut(
              await service.publishInstruction(principal(request), request.params.controllerId, request.body),
            ),
          ),
    );
    r.get(
      '/v1/controllers/:controllerId/instructions',
      {
        schema: {
          summary: 'List published instruction versions',
          tags: ['instructions'],
          security: auth,
          params: controllerParams,
          response: {
            200: z.object({ items: z.array(instructionView) }),
            ...errors('AUTH_REQUIRED', 'NOT_FOUND'),
          },
        },
      },
      async (request) => ({
        items: (await service.listInstructions(principal(request), request.params.controllerId)).map(
          instructionOut,
        ),
      }),
    );
    r.get(
      '/v1/controllers/:controllerId/instructions/:version',
      {
        schema: {
          summary: 'Read one instruction version, or `current`',
          tags: ['instructions'],
          security: auth,
          params: z.object({
            controllerId: id,
            version: z.union([z.literal('current'), z.coerce.number().int().min(1)]),
          }),
          response: { 200: instructionView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
        },
      },
      async (request) =>
        instructionOut(
          await service.getInstruction(
            principal(request),
            request.params.controllerId,
            request.params.version,
          ),
        ),
    );

    r.post(
      '/v1/controllers/:controllerId/endpoints',
      {
        schema: {
          summary: 'Register a webhook endpoint; the signing secret is returned once',
          tags: ['endpoints'],
          security: auth,
          params: controllerParams,
          body: z.strictObject({ url: z.string().max(2048), eventTypes, enabled: z.boolean().optional() }),
          response: {
            201: endpointView.extend({
              secret: z.string().describe('`whsec_…`: store it now, it is never shown again.'),
            }),
            ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'ENDPOINT_URL_REFUSED'),
          },
        },
      },
      async (request, reply) => {
        const { endpoint, secret } = await service.createEndpoint(
          principal(request),
          request.params.controllerId,
          request.body,
        );
        return reply.code(201).send({ ...endpointOut(endpoint), secret });
      },
    );
    r.get(
      '/v1/controllers/:controllerId/endpoints',
      {
        schema: {
          summary: 'List webhook endpoints',
          tags: ['endpoints'],
          security: auth,
          params: controllerParams,
          response: {
            200: z.object({ items: z.array(endpointView) }),
            ...errors('AUTH_REQUIRED', 'NOT_FOUND'),
          },
        },
      },
      async (request) => ({
        items: (await service.listEndpoints(principal(request), request.params.controllerId)).map(
          endpointOut,
        ),
      }),
    );
    r.get(
      '/v1/controllers/:controllerId/endpoints/:endpointId',
      {
        schema: {
          summary: 'Read a webhook endpoint',
          tags: ['endpoints'],
          security: auth,
          params: endpointParams,
          response: { 200: endpointView, ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
        },
      },
      async (request) =>
        endpointOut(
          await service.getEndpoint(
            principal(request),
            request.params.controllerId,
            request.params.endpointId,
          ),
        ),
    );
    r.patch(
      '/v1/controllers/:controllerId/endpoints/:endpointId',
      {
        schema: {
          summary: 'Change URL, subscribed event types or enabled',
          tags: ['endpoints'],
          security: auth,
          params: endpointParams,
          body: z.strictObject({
            url: z.string().max(2048).optional(),
            eventTypes: eventTypes.optional(),
            enabled: z.boolean().optional(),
          }),
          response: {
            200: endpointView,
            ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'ENDPOINT_URL_REFUSED'),
          },
        },
      },
      async (request) =>
        endpointOut(
          await service.updateEndpoint(
            principal(request),
            request.params.controllerId,
            request.params.endpointId,
            request.body,
          ),
        ),
    );
    r.delete(
      '/v1/controllers/:controllerId/endpoints/:endpointId',
      {
        schema: {
          summary: 'Delete a webhook endpoint',
          tags: ['endpoints'],
          security: auth,
          params: endpointParams,
          response: { 204: z.null().describe('Deleted'), ...errors('AUTH_REQUIRED', 'NOT_FOUND') },
        },
      },
      async (request, reply) => {
        await service.deleteEndpoint(
          principal(request),
          request.params.controllerId,
          request.params.endpointId,
        );
        return reply.code(204).send(null);
      },
    );
    r.post(
      '/v1/controllers/:controllerId/endpoints/:endpointId/secret/rotate',
      {
        schema: {
          summary: 'Rotate the signing secret; older secrets keep verifying for the grace period',
          tags: ['endpoints'],
          security: auth,
          params: endpointParams,
          body: z
            .strictObject({
              graceSeconds: z
                .int()
                .min(0)
                .max(7 * 86_400)
                .default(DEFAULT_ROTATION_GRACE_SECONDS),
            })
            .default({ graceSeconds: DEFAULT_ROTATION_GRACE_SECONDS }),
          response: {
            200: endpointView.extend({ secret: z.string(), secretId: z.string() }),
            ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND'),
          },
        },
      },
      async (request) => {
        const result = await service.rotateSecret(
          principal(request),
          request.params.controllerId,
          request.params.endpointId,
          request.body.graceSeconds,
        );
        return { ...endpointOut(result.endpoint), secret: result.secret, secretId: result.secretId };
      },
    );

    r.get(
      '/v1/controllers/:controllerId/messages/:messageId/webhook-deliveries',
      {
        schema: {
          summary: "Webhook deliveries of one of the controller's messages, with every attempt",
          tags: ['webhook deliveries'],
          security: auth,
          params: z.object({ controllerId: id, messageId: id }),
          response: {
            200: deliveriesView,
            ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'WEBHOOK_RECOVERY_UNAVAILABLE'),
          },
        },
      },
      async (request) => ({
        deliveries: (
          await service.listMessageDeliveries(
            principal(request),
            request.params.controllerId,
            request.params.messageId,
          )
        ).map(deliveryOut),
      }),
    );
    r.get(
      '/v1/controllers/:controllerId/endpoints/:endpointId/deliveries',
      {
        schema: {
          summary: 'Webhook deliveries to an endpoint since a time (default: the last 24 h), newest first',
          tags: ['webhook deliveries'],
          security: auth,
          params: endpointParams,
          querystring: z.strictObject({
            since: isoTime.optional().describe('ISO 8601 time; deliveries created at or after it.'),
            limit: z.coerce.number().int().min(1).max(500).default(100),
          }),
          response: {
            200: deliveriesView,
            ...errors('REQUEST_INVALID', 'AUTH_REQUIRED', 'NOT_FOUND', 'WEBHOOK_RECOVERY_UNAVAILABLE'),
          },
        },
      },
      async (request) => ({
        deliveries: (
          await service.listEndpointDeliveries(
            principal(request),
            request.params.controllerId,
            request.params.endpointId,
            {
              since: request.query.since === undefined ? undefined : new Date(request.query.since),
              limit: request.query.limit,
            },
          )
        ).map(deliveryOut),
      }),
    );
    r.post(
      '/v1/controllers/:controllerId/webhook-deliveries/:webhookId/resend',
      {
        schema: {
          summary: 'Send one delivery again with a fresh retry schedule (same webhook-id)',
          tags: ['webhook deliveries'],
          security: auth,
          params: z.object({ controllerId: id, webhookId: id }),
          response: {
            202: z.object({ status: z.literal('queued') }),
            ...errors(
              'REQUEST_INVALID',
              'AUTH_REQUIRED',
              'NOT_FOUND',
              'WEBHOOK_DELIVERY_PENDING',
              'WEBHOOK_ENDPOINT_DISABLED',
              'WEBHOOK_RECOVERY_UNAVAILABLE',
            ),
          },
        },
      },
      async (request, reply) => {
        await service.resendDelivery(
          principal(request),
          request.params.controllerId,
          request.params.webhookId,
        );
        return reply.code(202).send({ status: 'queued' as const });
      },
    );
    r.post(
      '/v1/controllers/:controllerId/endpoints/:endpointId/recover',
      {
        schema: {
          summary:
            'Send again every dead delivery to an endpoint created since a time, and at once those still waiting for a retry',
          tags: ['webhook deliveries'],
          security: auth,
          params: endpointParams,
          body: z.strictObject({
            since: isoTime.describe('ISO 8601 time; dead deliveries created at or after it.'),
          }),
          response: {
            202: z.object({
              requeued: z
                .int()
                .describe(
                  'How many deliveries were queued again (dead ones) or brought forward (waiting for a retry).',
                ),
            }),
            ...errors(
              'REQUEST_INVALID',
              'AUTH_REQUIRED',
              'NOT_FOUND',
              'WEBHOOK_ENDPOINT_DISABLED',
              'WEBHOOK_RECOVERY_UNAVAILABLE',
            ),
          },
        },
      },
      async (request, reply) =>
        reply
          .code(202)
          .send(
            await service.recoverEndpoint(
              principal(request),
              request.params.controllerId,
              request.params.endpointId,
              new Date(request.body.since),
            ),
          ),
    );

    const periodQuery = z.strictObject({
      from: isoTime
        .optional()
        .describe('ISO 8601 time; processing that occurred at or after it (default: 30 days before `to`).'),
      to: isoTime.optional().describe('ISO 8601 time; processing before it (default: now).'),
    });
    const periodOf = (query: { from?: string | undefined; to?: string | undefined }) => {
      const to = query.to === undefined ? new Date() : new Date(query.to);
      const from = query.from === undefined ? new Date(to.getTime() - 30 * 86_400_000) : new Date(query.from);
      return { from, to };
    };
    r.get(
      '/v1/controllers/:controllerId/audit-export',
      {
        schema: {
          summary:
            "The controller's audit export for a period (DPA §10): its ledger entries with inclusion proofs, signed checkpoints, the verifier key and a signed manifest; check it offline with `massivesms audit verify-export`",
          tags: ['audit'],
          security: auth,
          params: z.object({ controllerId: id }),
          querystring: periodQuery,
          response: {
            200: z
              .object({
                format: z.literal('massivesms.audit-export/1'),
                files: z.record(z.string(), z.string()),
              })
              .describe(
                'The bundle: RFC 8785 canonical JSON, mapping file names to their text (services/audit/README.md documents each file). Save the bytes as they are: any change is detected.',
              ),
            ...errors(
              'REQUEST_INVALID',
              'AUTH_REQUIRED',
              'NOT_FOUND',
              'AUDIT_PERIOD_INVALID',
              'AUDIT_EXPORT_TOO_LARGE',
              'AUDIT_NOT_CHECKPOINTED',
              'AUDIT_LEDGER_UNAVAILABLE',
            ),
          },
        },
      },
      async (request, reply) => {
        const period = periodOf(request.query);
        const bytes = await service.auditExport(principal(request), request.params.controllerId, period);
        const name = `audit-export-${request.params.controllerId}-${period.from.toISOString().slice(0, 10)}-${period.to.toISOString().slice(0, 10)}.json`;
        // The exact bytes: re-serialising would be harmless to the content but not to the bytes an auditor hashes.
        return reply
          .type('application/json')
          .header('content-disposition', `attachment; filename="${name}"`)
          .send(Buffer.from(bytes) as never); // a Buffer goes out unserialised; the schema documents its content
      },
    );
    r.get(
      '/v1/controllers/:controllerId/processing-record',
      {
        schema: {
          summary:
            'Record of processing activities carried out for the controller (GDPR Art. 30(2)) in a period, generated from the audit ledger and the subprocessor registry',
          tags: ['audit'],
          security: auth,
          params: z.object({ controllerId: id }),
          querystring: periodQuery,
          response: {
            200: processingRecordView,
            ...errors(
              'REQUEST_INVALID',
              'AUTH_REQUIRED',
              'NOT_FOUND',
              'AUDIT_PERIOD_INVALID',
              'AUDIT_LEDGER_UNAVAILABLE',
            ),
          },
        },
      },
      async (request) =>
        service.processingRecord(principal(request), request.params.controllerId, periodOf(request.query)),
    );
  });

  for (const plugin of options.plugins ?? []) await app.register(plugin);
  await app.ready();
  return app;
}

const processingRecordView = z.object({
  controller: z.object({ id: z.string(), name: z.string(), region: z.string() }),
  processor: z.object({ name: z.string(), role: z.literal('processor') }),
  period: z.object({ from: z.string(), to: z.string() }),
  source: z
    .object({
      ledger: z.string().describe("The ledger's log origin (its signed checkpoints name it)."),
      entries: z.int(),
      firstSeq: z.int().nullable(),
      lastSeq: z.int().nullable(),
    })
    .describe('The ledger entries the record was generated from.'),
  categoriesOfProcessing: z.array(
    z.object({
      service: z.string(),
      operation: z.string(),
      outcome: z.string(),
      dataCategories: z.array(z.string()),
      purposes: z.array(z.string()),
      count: z.int(),
    }),
  ),
  subprocessors: z.array(subprocessorUseView()),
  transfers: z
    .array(subprocessorUseView())
    .describe('Uses of a subprocessor outside the home region, with their transfer mechanism.'),
  securityMeasures: z.array(z.string()),
});

function subprocessorUseView() {
  return z.object({
    name: z.string(),
    legalEntity: z.string().nullable(),
    purpose: z.string().nullable(),
    region: z.string(),
    location: z.string().nullable(),
    country: z.string().nullable(),
    transferMechanism: z.string().nullable(),
    operations: z.int(),
  });
}

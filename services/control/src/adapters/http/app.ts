// The control API: one Fastify instance with what every route shares (validation, problem+json errors,
// metrics, OpenAPI) and one plugin per resource under routes/, each telling its routes' story.
import fastifySwagger from '@fastify/swagger';
import { ControllerKeysDestroyedError } from '@massivesms/privacy';
import { type Logger, traceFastify } from '@massivesms/telemetry';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import type { z } from 'zod';
import type { ControlService } from '../../application/control-service.ts';
import type { SubjectRequests } from '../../application/subject-requests.ts';
import type { Terminations } from '../../application/terminations.ts';
import { ControlProblem, problemTypes } from '../../domain/problems.ts';
import { sendProblem } from './problems.ts';
import { auditRoutes } from './routes/audit.ts';
import { controllerRoutes } from './routes/controllers.ts';
import { endpointRoutes } from './routes/endpoints.ts';
import { instructionRoutes } from './routes/instructions.ts';
import { opsRoutes } from './routes/ops.ts';
import { publicRoutes } from './routes/public.ts';
import { subjectRequestRoutes } from './routes/subject-requests.ts';
import { terminationRoutes } from './routes/terminations.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { webhookDeliveryRoutes } from './routes/webhook-deliveries.ts';
import { webhooksSection } from './webhooks-openapi.ts';

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
  /** Data-subject requests (DPA §8). */
  readonly subjectRequests: SubjectRequests;
  /** Terminations (DPA §11). */
  readonly terminations: Terminations;
}

/** Builds the control API (routes, auth, problem+json errors, OpenAPI, health and metrics). */
export async function buildControlApp(options: AppOptions): Promise<FastifyInstance> {
  const { service, log } = options;
  const app = Fastify({
    logger: false,
    ...(options.tls ? { https: { ...options.tls, minVersion: 'TLSv1.3' as const } } : {}),
  });
  traceFastify(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('principal', undefined);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') options.onRoute?.(method, route.url);
  });
  observeRequests(app, options.registry, log);

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof ControlProblem)
      return sendProblem(reply, error.code, error.message, { ...error.extra });
    // Any use of a terminated controller's data key (a new endpoint secret, a data-subject request).
    if (error instanceof ControllerKeysDestroyedError)
      return sendProblem(reply, 'CONTROLLER_TERMINATED', problemTypes.CONTROLLER_TERMINATED.title);
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
      webhooks: webhooksSection(),
    },
    transform: jsonSchemaTransform,
  });

  // Registration order is the order of the OpenAPI document's paths.
  await app.register(opsRoutes, { registry: options.registry, ready: options.ready });
  await app.register(publicRoutes, { service, subprocessors: options.subprocessors });
  await app.register(async (v1) => {
    // Every route in this scope needs a token; each use case then checks what its principal may do.
    // onRequest, before the body is parsed and validated: a caller without a token learns nothing
    // about the API's schema (401 first, never a 400 that describes the body).
    v1.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
      const principal = match ? await service.authenticate(match[1]!) : undefined;
      if (!principal) return sendProblem(reply, 'AUTH_REQUIRED', 'send Authorization: Bearer <token>');
      request.principal = principal;
    });
    await v1.register(controllerRoutes, { service });
    await v1.register(tokenRoutes, { service });
    await v1.register(instructionRoutes, { service, instructionSchema: options.instructionSchema });
    await v1.register(endpointRoutes, { service });
    await v1.register(webhookDeliveryRoutes, { service });
    await v1.register(auditRoutes, { service });
    await v1.register(subjectRequestRoutes, { subjectRequests: options.subjectRequests });
    await v1.register(terminationRoutes, { terminations: options.terminations });
  });

  await app.ready();
  return app;
}

/** Request counts and latency by route template (never by path: ids would explode the labels). */
function observeRequests(app: FastifyInstance, registry: Registry, log: Logger): void {
  const requests = new Counter({
    name: 'control_http_requests_total',
    help: 'Control API requests by route template, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'control_http_request_duration_seconds',
    help: 'Control API request latency by route template.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    duration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500)
      log.error({ route, method: request.method, status: reply.statusCode }, 'request failed');
  });
}

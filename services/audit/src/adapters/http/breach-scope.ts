// `GET /v1/breach-scope` on the audit service's HTTP server, for operators (DPA §9): the breach scope
// of a subprocessor or service in a window, as JSON, or the draft Art. 33 notice as Markdown. The
// audit service owns the ledger, so it answers; the operator's token is the control plane's
// (CONTROL_OPERATOR_TOKEN), compared by hash in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Db } from '@massivesms/db';
import type { Logger } from '@massivesms/telemetry';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { breachNotice } from '../../breach/notice.ts';
import {
  type BreachScope,
  BreachScopeInputError,
  parseBreachTarget,
  parseControllerId,
  parsePeriod,
} from '../../breach/scope.ts';
import { type BreachScopeQuery, breachScope } from '../pg-breach-scope.ts';

export interface BreachScopeRouteOptions {
  readonly db: Db;
  readonly cell: string;
  /** The operator token (CONTROL_OPERATOR_TOKEN); unset, every request is refused. */
  readonly operatorToken: string | undefined;
  /** The contact point named in notices (AUDIT_PRIVACY_CONTACT). */
  readonly contact: string;
  readonly log?: Logger;
  readonly now?: () => Date;
}

const PROBLEMS = {
  AUTH_REQUIRED: { status: 401, title: 'Operator token required' },
  BREACH_SCOPE_INVALID: { status: 400, title: 'Breach scope query invalid' },
  AUDIT_LEDGER_UNAVAILABLE: { status: 503, title: 'Audit ledger unavailable' },
} as const;

function problem(reply: FastifyReply, code: keyof typeof PROBLEMS, detail: string) {
  const { status, title } = PROBLEMS[code];
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: `https://docs.massivesms.example/problems/${code}`, title, status, detail, code });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** One optional text parameter of at most `max` characters. */
function text(query: Record<string, unknown>, name: string, max: number): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max)
    throw new BreachScopeInputError(`${name} must be one value of at most ${max} characters`);
  return value;
}

type ParsedQuery = BreachScopeQuery & {
  readonly format: 'json' | 'markdown';
  readonly nature: string | undefined;
  readonly measures: string | undefined;
};

/** The query string, checked; throws BreachScopeInputError. */
function parseQuery(query: Record<string, unknown>): ParsedQuery {
  const format = text(query, 'format', 10) ?? 'json';
  if (format !== 'json' && format !== 'markdown')
    throw new BreachScopeInputError('format must be json or markdown');
  const subjects = text(query, 'subjects', 5);
  if (subjects !== undefined && subjects !== 'true' && subjects !== 'false')
    throw new BreachScopeInputError('subjects must be true or false');
  const controllerId = parseControllerId(text(query, 'controller', 128));
  return {
    format,
    target: parseBreachTarget(text(query, 'subprocessor', 64)),
    ...parsePeriod(text(query, 'from', 40), text(query, 'to', 40)),
    ...(controllerId === undefined ? {} : { controllerId }),
    includeSubjects: subjects === 'true',
    nature: text(query, 'nature', 4_000),
    measures: text(query, 'measures', 4_000),
  };
}

export const breachScopeRoutes: FastifyPluginAsync<BreachScopeRouteOptions> = async (app, options) => {
  const expected = options.operatorToken === undefined ? undefined : sha256(options.operatorToken);
  app.get('/v1/breach-scope', async (request, reply) => {
    const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
    if (!expected || !match || !timingSafeEqual(sha256(match[1]!), expected))
      return problem(reply, 'AUTH_REQUIRED', 'send Authorization: Bearer <operator token>');
    let parsed: ParsedQuery;
    try {
      parsed = parseQuery((request.query ?? {}) as Record<string, unknown>);
    } catch (error) {
      if (error instanceof BreachScopeInputError)
        return problem(reply, 'BREACH_SCOPE_INVALID', error.message);
      throw error;
    }
    let scope: BreachScope;
    try {
      scope = await breachScope(
        options.db,
        { ...parsed, cell: options.cell },
        options.now ? { now: options.now } : {},
      );
    } catch (error) {
      options.log?.warn({ err: error }, 'breach scope query failed');
      return problem(reply, 'AUDIT_LEDGER_UNAVAILABLE', 'the ledger could not be read; try again');
    }
    if (parsed.format === 'json') return reply.type('application/json').send(scope);
    const notice = breachNotice(scope, {
      contact: options.contact,
      ...(parsed.nature === undefined ? {} : { nature: parsed.nature }),
      ...(parsed.measures === undefined ? {} : { measures: parsed.measures }),
    });
    return reply.type('text/markdown; charset=utf-8').send(notice);
  });
};

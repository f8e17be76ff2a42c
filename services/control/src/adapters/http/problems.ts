// problem+json answers of the control API (RFC 9457), shared by every route plugin.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { type ProblemCode, problemTypes } from '../../domain/problems.ts';

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string(),
  })
  .loose()
  .describe('RFC 9457 problem details; `code` is stable.');

/** Response schemas of the problems a route may answer, keyed by their status. */
export const errors = (...codes: ProblemCode[]) =>
  Object.fromEntries(codes.map((code) => [problemTypes[code].status, problemSchema]));

export function sendProblem(
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

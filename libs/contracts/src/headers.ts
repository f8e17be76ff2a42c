import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { decodeHeaders } from './codec.ts';
import { regionSchema } from './events.ts';

/** Header names carried by every record (DESIGN.md §4). */
export const headerNames = {
  region: 'region',
  controller: 'controller',
  instruction: 'instruction',
  traceparent: 'traceparent',
  schema: 'schema',
} as const;

/** `id@version#sha256` reference to the instruction a record is processed under. */
export const instructionRefSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*@[1-9]\d*#[a-f0-9]{64}$/, 'instruction must be id@version#sha256');

/** W3C trace context `traceparent` (version 00). */
export const traceparentSchema = z
  .string()
  .regex(
    /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/,
    'traceparent must be W3C version 00',
  );

/** Headers of a routed record; other headers (e.g. `tracestate`) may travel beside them. */
export const recordHeadersSchema = z.looseObject({
  region: regionSchema,
  controller: z.string().min(1).max(128),
  instruction: instructionRefSchema,
  traceparent: traceparentSchema,
  schema: z
    .string()
    .regex(/^[a-z][a-z0-9.]*\.v\d+$/, 'schema must name a topic contract, e.g. sms.dispatch.v1'),
});
export type RecordHeaders = z.infer<typeof recordHeadersSchema>;

/** Formats an instruction reference from its parts. */
export function instructionRef(id: string, version: number, sha256: string): string {
  return instructionRefSchema.parse(`${id}@${version}#${sha256}`);
}

/** A fresh W3C `traceparent` for a record that starts a trace (sampled). */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

/**
 * Builds the headers every routed record carries, validated: a record with a missing or malformed
 * region, controller, instruction or trace header never leaves a producer.
 */
export function recordHeaders(headers: z.input<typeof recordHeadersSchema>): Record<string, string> {
  const result = decodeHeaders(recordHeadersSchema, headers as Record<string, string>);
  if (!result.ok) throw result.error;
  return Object.fromEntries(Object.entries(result.value).map(([k, v]) => [k, String(v)]));
}

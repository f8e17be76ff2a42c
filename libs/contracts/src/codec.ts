import type { z } from 'zod';
import { type ErrorCode, errorCodes } from './errors.ts';

/** Thrown (or returned) when bytes do not decode into a contract; carries a stable code. */
export class ContractViolationError extends Error {
  override readonly name = 'ContractViolationError';
  readonly code: ErrorCode;
  /** Dotted path of the first offending field, if one is at fault. */
  readonly field: string | undefined;
  /** Retrying cannot help: the same bytes fail the same way. */
  readonly retryable = false;

  constructor(code: ErrorCode, reason: string, field?: string, options?: ErrorOptions) {
    super(reason, options);
    this.code = code;
    this.field = field;
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: ContractViolationError };

const MAX_ISSUES_IN_REASON = 5;

/** Describes zod issues without echoing input values (which may be personal data). */
function describeIssues(issues: readonly z.core.$ZodIssue[]): { field: string | undefined; reason: string } {
  const parts = issues.slice(0, MAX_ISSUES_IN_REASON).map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  if (issues.length > MAX_ISSUES_IN_REASON) parts.push(`and ${issues.length - MAX_ISSUES_IN_REASON} more`);
  const first = issues[0];
  const field = first && first.path.length > 0 ? first.path.map(String).join('.') : undefined;
  return { field, reason: parts.join('; ') };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes JSON bytes and validates them against a schema, never throwing. */
export function decodeJson<S extends z.ZodType>(
  schema: S,
  bytes: Uint8Array | null | undefined,
): DecodeResult<z.output<S>> {
  if (!bytes || bytes.length === 0) {
    return { ok: false, error: new ContractViolationError('CONTRACT_UNDECODABLE', 'record value is empty') };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch (cause) {
    const what = cause instanceof SyntaxError ? 'not valid JSON' : 'not valid UTF-8';
    return {
      ok: false,
      error: new ContractViolationError('CONTRACT_UNDECODABLE', `record value is ${what}`),
    };
  }
  const result = schema.safeParse(parsed);
  if (result.success) return { ok: true, value: result.data };
  const { field, reason } = describeIssues(result.error.issues);
  return { ok: false, error: new ContractViolationError(issueCode(result.error.issues), reason, field) };
}

/** A refinement may name its own stable code (`params.errorCode`); any other issue is CONTRACT_INVALID. */
function issueCode(issues: readonly z.core.$ZodIssue[]): ErrorCode {
  const first = issues[0];
  const code =
    first?.code === 'custom' ? (first.params as { errorCode?: unknown } | undefined)?.errorCode : undefined;
  return typeof code === 'string' && code in errorCodes ? (code as ErrorCode) : 'CONTRACT_INVALID';
}

/** Decodes and validates, throwing the ContractViolationError (for decoders whose caller dead-letters). */
export function decodeJsonOrThrow<S extends z.ZodType>(
  schema: S,
  bytes: Uint8Array | null | undefined,
): z.output<S> {
  const result = decodeJson(schema, bytes);
  if (!result.ok) throw result.error;
  return result.value;
}

/** Validates a value against its schema and serialises it: a producer bug never reaches a topic. */
export function encodeJson<S extends z.ZodType>(schema: S, value: z.input<S>): Buffer {
  const result = schema.safeParse(value);
  if (!result.success) {
    const { field, reason } = describeIssues(result.error.issues);
    throw new ContractViolationError('CONTRACT_INVALID', reason, field);
  }
  return Buffer.from(JSON.stringify(result.data));
}

/** Validates record headers against a schema, never throwing. */
export function decodeHeaders<S extends z.ZodType>(
  schema: S,
  headers: Readonly<Record<string, string | undefined>>,
): DecodeResult<z.output<S>> {
  const result = schema.safeParse(headers);
  if (result.success) return { ok: true, value: result.data };
  const { field, reason } = describeIssues(result.error.issues);
  return { ok: false, error: new ContractViolationError('CONTRACT_HEADERS_INVALID', reason, field) };
}

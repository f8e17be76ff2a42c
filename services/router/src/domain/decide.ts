import type { Cell, ControllerState, ErrorCode, SmsRequest } from '@massivesms/contracts';
import { decodeJson, smsRequestSchema } from '@massivesms/contracts';
import { type QuietHours, quietHoursAt } from './quiet-hours.ts';
import { normaliseRecipient, validateSender } from './recipient.ts';
import { countSegments } from './segments.ts';

// The routing rules for one request, as a pure function: no I/O, no keys. Suppression and dedupe
// need the database and happen in the application layer on the candidates this returns.

/** A request that cannot go further, with the rule that stopped it. */
export interface Refusal {
  readonly kind: 'reject';
  readonly code: ErrorCode;
  readonly field?: string | undefined;
  readonly reason: string;
  /** Present once the request decoded far enough to name them. */
  readonly request?: SmsRequest;
  /** The controller, when it is known in this cell (then the controller sees a `rejected` status). */
  readonly controller?: ControllerState;
}

/** A request past its validUntil: terminal status `expired`. */
export interface Expiry {
  readonly kind: 'expire';
  readonly request: SmsRequest;
  readonly controller: ControllerState;
}

/** A request that passed every rule that needs no database: next come suppression and dedupe. */
export interface Candidate {
  readonly kind: 'candidate';
  readonly request: SmsRequest;
  readonly controller: ControllerState;
  readonly instructionRef: string;
  readonly e164: string;
  readonly country: string | undefined;
  readonly senderKind: 'e164' | 'short_code' | 'alphanumeric';
  readonly encoding: 'GSM-7' | 'UCS-2';
  readonly segments: number;
  /** Set when quiet hours hold the message. */
  readonly sendAfter: Date | undefined;
}

export type Decision = Refusal | Expiry | Candidate;

export interface DecideContext {
  readonly cell: Cell;
  readonly controller: (id: string) => ControllerState | undefined;
  readonly now: Date;
  readonly maxSegments: number;
}

/** Applies the routing rules in order: decode, region, controller, instruction, purpose, numbers, expiry, quiet hours, size. */
export function decide(
  value: Uint8Array | null,
  headers: Readonly<Record<string, string>>,
  ctx: DecideContext,
): Decision {
  const decoded = decodeJson(smsRequestSchema, value);
  if (!decoded.ok) {
    return {
      kind: 'reject',
      code: decoded.error.code,
      field: decoded.error.field,
      reason: decoded.error.message,
    };
  }
  const request = decoded.value;
  if (headers.region !== undefined && headers.region !== ctx.cell) {
    return {
      kind: 'reject',
      code: 'SMS_WRONG_REGION',
      reason: `record tagged region ${headers.region} reached the ${ctx.cell} cell`,
      request,
    };
  }
  const controller = ctx.controller(request.controllerId);
  if (!controller) {
    return {
      kind: 'reject',
      code: 'SMS_UNKNOWN_CONTROLLER',
      field: 'controllerId',
      reason: `no controller ${request.controllerId} in the ${ctx.cell} cell`,
      request,
    };
  }
  const refuse = (code: ErrorCode, reason: string, field?: string): Refusal => ({
    kind: 'reject',
    code,
    field,
    reason,
    request,
    controller,
  });
  if (controller.terminatedAt !== undefined) {
    return refuse(
      'SMS_CONTROLLER_TERMINATED',
      `the controller's service was terminated at ${controller.terminatedAt}`,
    );
  }
  if (controller.region !== ctx.cell) {
    return refuse('SMS_WRONG_REGION', `controller is homed in ${controller.region}, not ${ctx.cell}`);
  }
  const instruction = controller.instruction;
  if (!instruction) return refuse('SMS_NO_INSTRUCTION', 'the controller has no current instruction');
  const purposes = (instruction.document.purposes ?? []) as string[];
  if (!purposes.includes(request.purpose)) {
    return refuse(
      'SMS_PURPOSE_NOT_ALLOWED',
      `purpose ${request.purpose} is not in instruction ${instruction.ref}`,
      'purpose',
    );
  }
  const recipient = normaliseRecipient(request.to);
  if (!recipient.ok) return refuse(recipient.code, recipient.reason, 'to');
  const sender = validateSender(request.from);
  if (!sender.ok) return refuse(sender.code, sender.reason, 'from');
  if (request.validUntil !== undefined && Date.parse(request.validUntil) <= ctx.now.getTime()) {
    return { kind: 'expire', request, controller };
  }
  const size = countSegments(request.body);
  if (size.segments > ctx.maxSegments) {
    return refuse(
      'SMS_TOO_MANY_SEGMENTS',
      `body needs ${size.segments} ${size.encoding} segments; the maximum is ${ctx.maxSegments}`,
      'body',
    );
  }
  let sendAfter: Date | undefined;
  const quiet = instruction.document.quietHours as QuietHours | undefined;
  if (quiet) {
    const window = quietHoursAt(ctx.now, quiet);
    if (window.quiet && quiet.action === 'reject') {
      return refuse('SMS_QUIET_HOURS', `quiet hours ${quiet.start}–${quiet.end} ${quiet.timeZone}`);
    }
    if (window.quiet) sendAfter = window.endsAt;
  }
  if (
    sendAfter &&
    request.validUntil !== undefined &&
    Date.parse(request.validUntil) <= sendAfter.getTime()
  ) {
    return { kind: 'expire', request, controller }; // it would expire while held
  }
  return {
    kind: 'candidate',
    request,
    controller,
    instructionRef: instruction.ref,
    e164: recipient.e164,
    country: recipient.country,
    senderKind: sender.kind,
    encoding: size.encoding,
    segments: size.segments,
    sendAfter,
  };
}

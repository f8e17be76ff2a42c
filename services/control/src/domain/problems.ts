/**
 * Stable error codes of the control API (answered as application/problem+json). Clients and
 * alerts key on `code`; never rename one.
 */
export const problemTypes = {
  AUTH_REQUIRED: { status: 401, title: 'A valid bearer token is required.' },
  OPERATOR_ONLY: { status: 403, title: 'Only an operator token may do this.' },
  NOT_FOUND: { status: 404, title: 'No such resource.' },
  REQUEST_INVALID: { status: 400, title: 'The request does not match the API schema.' },
  CONTROLLER_EXISTS: { status: 409, title: 'A controller with this id already exists.' },
  CONTROLLER_REGION_IMMUTABLE: { status: 409, title: "A controller's home region can never change." },
  CONTROLLER_WRONG_CELL: { status: 422, title: 'This cell serves another region.' },
  INSTRUCTION_REFUSED: { status: 422, title: 'The processor must not follow this instruction.' },
  ENDPOINT_URL_REFUSED: { status: 422, title: 'The webhook URL is not allowed.' },
  WEBHOOK_DELIVERY_PENDING: {
    status: 409,
    title: 'The webhook delivery is still queued; it cannot be resent yet.',
  },
  WEBHOOK_ENDPOINT_DISABLED: {
    status: 409,
    title: 'The endpoint is disabled or deleted: update or re-enable it before sending to it again.',
  },
  WEBHOOK_RECOVERY_UNAVAILABLE: {
    status: 503,
    title: 'Webhook delivery recovery is not available on this control plane.',
  },
  AUDIT_LEDGER_UNAVAILABLE: {
    status: 503,
    title: 'The audit ledger is not available on this control plane.',
  },
  AUDIT_NOT_CHECKPOINTED: {
    status: 503,
    title:
      'No signed checkpoint covers the ledger yet; retry after the next one (AUDIT_CHECKPOINT_INTERVAL_MS).',
  },
  AUDIT_EXPORT_TOO_LARGE: {
    status: 422,
    title: 'The period holds more entries than one export may: ask for a shorter period.',
  },
  AUDIT_PERIOD_INVALID: { status: 400, title: '`from` must be before `to`.' },
  CONTROLLER_TERMINATED: {
    status: 409,
    title:
      "The controller's data key was destroyed at termination: nothing personal can be processed for it any more.",
  },
  TERMINATION_DATA_DELETED: {
    status: 410,
    title:
      "The controller's data was deleted at the end of the termination's grace period: only the deletion certificate remains.",
  },
  INTERNAL: { status: 500, title: 'Internal error.' },
} as const;
export type ProblemCode = keyof typeof problemTypes;

/** A refusal the API answers with its stable code; `extra` adds machine-readable members. */
export class ControlProblem extends Error {
  override readonly name = 'ControlProblem';
  readonly code: ProblemCode;
  readonly status: number;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(code: ProblemCode, detail?: string, extra: Record<string, unknown> = {}) {
    super(detail ?? problemTypes[code].title);
    this.code = code;
    this.status = problemTypes[code].status;
    this.extra = extra;
  }
}

/**
 * Stable error codes that travel on Kafka (rejections, dead letters) and through the control API.
 * Dashboards and alerts key on them: never rename one, add a new code instead.
 */
export const errorCodes = {
  CONTRACT_UNDECODABLE: 'The record value is missing, not UTF-8 or not JSON.',
  CONTRACT_INVALID:
    'The record is JSON but does not match the topic schema; `field` names the first offending field.',
  CONTRACT_HEADERS_INVALID: 'A required record header is missing or malformed.',
  SMS_WRONG_REGION:
    "The record is tagged with another region than this cell's (misrouted): refused and audited.",
  SMS_UNKNOWN_CONTROLLER: 'No controller with this id is homed in this cell.',
  SMS_NO_INSTRUCTION:
    'The controller has not published an instruction: nothing is processed without one (deny by default).',
  SMS_PURPOSE_NOT_ALLOWED:
    "The request's purpose is not among the purposes of the controller's current instruction.",
  SMS_INVALID_RECIPIENT: 'The recipient is not a valid phone number (or one SMS cannot reach).',
  SMS_LANDLINE_RECIPIENT: 'The recipient is a landline.',
  SMS_METADATA_PERSONAL_DATA:
    'The request metadata holds personal data (a phone number in any written form, or an e-mail address): metadata must hold none. The rejection names neither the key nor the value.',
  SMS_INVALID_SENDER: 'The sender is not an E.164 number, a short code or an alphanumeric sender id.',
  SMS_TOO_MANY_SEGMENTS: 'The body needs more SMS segments than the configured maximum.',
  SMS_SUPPRESSED_OPT_OUT:
    'Status `suppressed`: the recipient opted out (STOP at a carrier) for this controller; never sent. Survives an erasure of the subject.',
  SMS_SUPPRESSED_RESTRICTION:
    'Status `suppressed`: the data subject asked the controller to restrict processing (DPA §8 restriction request); never sent.',
  SMS_SUPPRESSED_OBJECTION:
    'Status `suppressed`: the data subject objected to processing (DPA §8 objection request); never sent.',
  SMS_SUBJECT_ERASED:
    'Status `suppressed`: the message was held (quiet hours, waiting for a carrier) when its recipient was erased at the controller’s request (DPA §8); never sent.',
  SMS_CONTROLLER_TERMINATED:
    "The controller's service was terminated (DPA §11): never sent. A new request is `rejected` by the router; one routed before is `failed` by the dispatcher; one still held when the controller's data is deleted ends `suppressed`.",
  SMS_QUIET_HOURS: "The instruction's quiet hours forbid sending now and say to reject.",
  DISPATCH_NO_AUTHORISED_CARRIER:
    "The controller's instruction lists no SMS carrier that is an effective subprocessor: nothing is sent.",
  SMS_EXPIRED:
    "Status: the message's `validUntil` passed before it could be sent (terminal `expired`); it is never sent.",
  DISPATCH_UNDECRYPTABLE:
    'Status: the recipient or body does not decrypt under the controller key; refused before any carrier saw it.',
  DISPATCH_CARRIER_UNAVAILABLE:
    'Status: no carrier the instruction allows could take the message within DISPATCHER_MAX_CARRIER_WAIT_MS of its acceptance; never sent.',
  DISPATCH_SEND_INTERRUPTED:
    'Status `unknown`: the dispatcher stopped mid-call; the carrier may have the message, so it is never resent (a receipt may still close it).',
  DISPATCH_OUTCOME_UNKNOWN:
    'Status `failed`: an `unknown` message got no receipt within the quarantine window; not resent, to avoid a double send.',
  SMS_CONTROLLER_KEYS_UNAVAILABLE:
    "The controller's keys were destroyed (terminated controller): nothing can be processed.",
  PRIVACY_KEYS_UNAVAILABLE:
    "Dead letter: the controller's keys could not be obtained (key service unreachable or refusing, key not unwrappable). Retried with backoff, then dead-lettered; replay once the keys are available.",
  PRIVACY_DECRYPT_FAILED:
    "Dead letter: a personal field of the record does not decrypt under its controller's key (altered, or sealed for another record or field). Dead-lettered at once: every attempt would fail alike.",
  RECORD_UNPROCESSABLE:
    'Dead letter: a consumer failed on the record with an error that had no code of its own; the reason names only the error class (its message may quote input).',
} as const;
export type ErrorCode = keyof typeof errorCodes;

/**
 * Stable error codes that travel on Kafka (rejections, dead letters) and through the control API.
 * Dashboards and alerts key on them: never rename one, add a new code instead.
 */
export const errorCodes = {
  CONTRACT_UNDECODABLE: 'The record value is missing, not UTF-8 or not JSON.',
  CONTRACT_INVALID:
    'The record is JSON but does not match the topic schema; `field` names the first offending field.',
  CONTRACT_HEADERS_INVALID: 'A required record header is missing or malformed.',
} as const;
export type ErrorCode = keyof typeof errorCodes;

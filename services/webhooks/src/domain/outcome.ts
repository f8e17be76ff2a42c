/** What one HTTP attempt ended in, as the sender observed it. */
export interface AttemptResult {
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  /**
   * Transport failure class when there was no response: `timeout`, `connect`, `ssrf_refused`, `tls`,
   * `other`; `aborted` when we cut it short at shutdown (not the endpoint's failure).
   */
  readonly error?: string;
  readonly latencyMs: number;
  /** The first bytes of the response body, for the attempt log. */
  readonly responseExcerpt?: string;
}

/** How the delivery moves on after an attempt. */
export type AttemptVerdict =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'gone' }
  | { readonly kind: 'failed'; readonly errorClass: string };

/**
 * Success is 2xx only; 3xx is a failure (redirects are never followed); 410 Gone disables the
 * endpoint; everything else is retried on the schedule.
 */
export function judgeAttempt(result: AttemptResult): AttemptVerdict {
  const status = result.status;
  if (status === undefined) return { kind: 'failed', errorClass: result.error ?? 'other' };
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 410) return { kind: 'gone' };
  if (status >= 300 && status < 400) return { kind: 'failed', errorClass: 'redirect' };
  if (status === 429) return { kind: 'failed', errorClass: 'rate_limited' };
  return { kind: 'failed', errorClass: status >= 500 ? 'http_5xx' : 'http_4xx' };
}

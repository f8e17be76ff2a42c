import { checkUrl, type Resolver, SsrfRefusedError } from '@massivesms/ssrf';
import type { UrlGuard } from '../application/ports.ts';
import { ControlProblem } from '../domain/problems.ts';

/** Registration-time SSRF check (the webhooks service checks again before every delivery). */
export function ssrfUrlGuard(allowList: readonly string[], resolver?: Resolver): UrlGuard {
  return async (url) => {
    try {
      await checkUrl(url, { allowList, ...(resolver ? { resolver } : {}) });
    } catch (error) {
      if (error instanceof SsrfRefusedError) {
        throw new ControlProblem('ENDPOINT_URL_REFUSED', error.message, {
          reason: error.reason,
          ...(error.category ? { category: error.category } : {}),
        });
      }
      throw error;
    }
  };
}

import { z } from 'zod';
import { validateSsrfPolicy } from './policy.ts';

/**
 * An allow-list environment variable: comma-separated hosts, IPs or CIDRs, each checked like
 * `validateSsrfPolicy` does, so a typo stops the service at start instead of weakening the guard.
 */
export function allowListSchema() {
  return z
    .string()
    .optional()
    .transform((v) =>
      v
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    )
    .superRefine((allowList, ctx) => {
      try {
        validateSsrfPolicy({ allowList });
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    });
}

import { commonSpec, defineConfig } from '@massivesms/config';
import { privacyServices } from '@massivesms/contracts';
import { allowListSchema } from '@massivesms/ssrf';
import { z } from 'zod';

const days = (max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number of days' })
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, { error: `must be from 1 to ${max}` });

const internalUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** Environment of `massivesms control` (the common service variables plus its own). */
export const controlSpec = defineConfig({
  ...commonSpec,
  WEBHOOKS_INTERNAL_URL: {
    schema: internalUrl.optional(),
    description:
      "The webhooks service's cell-internal HTTP address (its `HTTP_PORT`), e.g. `http://webhooks:8080`: delivery listings and resend/recover outcomes are read there, after the control API's own token check. Unset: those routes answer 503 `WEBHOOK_RECOVERY_UNAVAILABLE`.",
  },
  AUDIT_INTERNAL_URL: {
    schema: internalUrl.optional(),
    description:
      "The audit service's cell-internal HTTP address (its `HTTP_PORT`), e.g. `http://audit:8080`: controller exports, processing records and the verifier key are read there. Unset: those routes answer 503 `AUDIT_LEDGER_UNAVAILABLE`.",
  },
  CONTROL_TLS_CERT_FILE: {
    schema: z.string().min(1).optional(),
    description:
      'PEM certificate for the control API. When set (with the key), the API serves HTTPS and accepts TLS 1.3 only.',
  },
  CONTROL_TLS_KEY_FILE: {
    schema: z.string().min(1).optional(),
    description: 'PEM private key matching `CONTROL_TLS_CERT_FILE`.',
  },
  CONTROL_WEBHOOK_ALLOWLIST: {
    schema: allowListSchema(),
    description:
      'Comma-separated hosts, IPs or CIDRs a webhook URL may point at even though they are not public (and over http). For the demo and tests only; empty in production.',
  },
  CONTROL_MAX_CONTENT_RETENTION_DAYS: {
    schema: days(3650),
    default: '90',
    description:
      'Longest message-content retention an instruction may ask for; longer ones are refused with a notice.',
  },
  CONTROL_MAX_METADATA_RETENTION_DAYS: {
    schema: days(3650),
    default: '400',
    description:
      'Longest metadata retention an instruction may ask for; longer ones are refused with a notice.',
  },
  CONTROL_TERMINATION_GRACE_DAYS: {
    schema: z.coerce.number().int().min(0).max(30),
    default: '30',
    description:
      "Days between a controller's termination and the deletion of its data (DPA §11: within 30 days); the return bundle can be downloaded until then.",
  },
  CONTROL_TERMINATION_CHECK_INTERVAL_MS: {
    schema: z.coerce.number().int().min(1_000).max(3_600_000),
    default: '60000',
    description: 'How often the control plane looks for terminations whose grace period ended.',
  },
  CONTROL_DSR_SERVICES: {
    schema: z
      .string()
      .transform((text) => text.split(',').map((s) => s.trim()))
      .pipe(z.array(z.enum(privacyServices)).min(1))
      .transform((list) => [...new Set(list)]),
    default: privacyServices.join(','),
    description:
      'Comma-separated services that must acknowledge a data-subject request before it completes (each erases or exports its own rows): every service of the cell that stores data about subjects.',
  },
});

import { auditSpec } from '@massivesms/audit/config';
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

/** Environment of `massivesms control` (the common service variables plus its own). */
export const controlSpec = defineConfig({
  ...commonSpec,
  /** The ledger's origin: exports are signed with the key named after it (same value as the audit service's). */
  AUDIT_ORIGIN: auditSpec.AUDIT_ORIGIN,
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

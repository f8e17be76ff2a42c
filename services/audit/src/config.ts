import { commonSpec, defineConfig, durationMsSchema } from '@massivesms/config';
import { z } from 'zod';

/** Environment of `massivesms audit`. The checkpoint signing key comes from the KMS (KMS_MASTER_KEY). */
export const auditSpec = defineConfig({
  ...commonSpec,
  AUDIT_ORIGIN: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/, {
        error: 'must be a log name such as audit.example.com/eu (letters, digits, . _ / -)',
      })
      .optional(),
    description:
      "The ledger's log origin: the first line of every signed checkpoint and the signing key's name. Default `audit.massivesms.example/<cell>`. Changing it starts a new key (published verifier keys name it).",
  },
  AUDIT_CHECKPOINT_ENTRIES: {
    schema: z
      .string()
      .regex(/^\d{1,7}$/, { error: 'must be a whole number from 1 to 1000000' })
      .transform(Number)
      .refine((n) => n >= 1 && n <= 1_000_000, { error: 'must be a whole number from 1 to 1000000' }),
    default: '1000',
    description: 'Sign a checkpoint as soon as this many entries are not covered by one.',
  },
  AUDIT_CHECKPOINT_INTERVAL_MS: {
    schema: durationMsSchema(100, 3_600_000),
    default: '10000',
    description:
      'Sign a checkpoint this long after the last one when entries are not covered by one: the longest an entry waits before a controller export can prove it.',
  },
  AUDIT_PRIVACY_CONTACT: {
    schema: z
      .string()
      .min(3)
      .max(200)
      .regex(/^[^\r\n]+$/, { error: 'must be one line' }),
    default: 'privacy@massivesms.com',
    description:
      'The data protection contact point named in draft breach notices (`massivesms breach-scope --notice`, `GET /v1/breach-scope?format=markdown`); DPA §14 names privacy@massivesms.com. A role address, not a person.',
  },
});

import { commonSpec, defineConfig, retentionSpec } from '@massivesms/config';
import { z } from 'zod';

/** Environment of `massivesms router`. */
export const routerSpec = defineConfig({
  ...commonSpec,
  ...retentionSpec,
  ROUTER_MAX_SEGMENTS: {
    schema: z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number' })
      .transform(Number)
      .refine((n) => n >= 1 && n <= 20, { error: 'must be from 1 to 20' }),
    default: '10',
    description:
      'Most SMS segments one message may need; longer bodies are rejected with SMS_TOO_MANY_SEGMENTS.',
  },
});

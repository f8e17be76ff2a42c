import { commonSpec, defineConfig } from '@massivesms/config';

/** Environment of `massivesms audit` (the common variables; checkpoint signing keys come with issue 11). */
export const auditSpec = defineConfig({
  ...commonSpec,
});

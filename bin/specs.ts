import { commonSpec, defineConfig } from '@massivesms/config';

/** `massivesms migrate` needs only the database (and a log level), not a cell or keys. */
export const migrateSpec = defineConfig({
  DATABASE_URL: commonSpec.DATABASE_URL,
  LOG_LEVEL: commonSpec.LOG_LEVEL,
});

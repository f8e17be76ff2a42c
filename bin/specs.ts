import { auditSpec } from '@massivesms/audit/config';
import { commonSpec, databaseSpec, defineConfig, localInfraSpec } from '@massivesms/config';
import { controlSpec } from '@massivesms/control/config';
import { dispatcherSpec } from '@massivesms/dispatcher/config';
import { routerSpec } from '@massivesms/router/config';
import { webhooksSpec } from '@massivesms/webhooks/config';

/** `massivesms migrate` needs only the database (and a log level), not a cell or keys. */
export const migrateSpec = defineConfig({
  ...databaseSpec,
  LOG_LEVEL: commonSpec.LOG_LEVEL,
});

/** Every spec of every entry point: docs/configuration.md documents exactly these. */
export const documentedSpecs = [
  commonSpec,
  localInfraSpec,
  controlSpec,
  routerSpec,
  dispatcherSpec,
  webhooksSpec,
  auditSpec,
];

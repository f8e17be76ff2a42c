import { auditMigrations } from '@massivesms/audit/ledger';
import { controlMigrations } from '@massivesms/control/control';
import type { MigrationSource } from '@massivesms/db';
import { dispatcherMigrations } from '@massivesms/dispatcher/dispatcher';
import { routerMigrations } from '@massivesms/router/router';
import { webhooksMigrations } from '@massivesms/webhooks/webhooks';

/**
 * Migration folders of every service, applied in this order by `massivesms migrate`. Each service
 * owns its tables (DESIGN.md §3.2); a service adds its folder here when it lands.
 */
export const serviceMigrations: readonly MigrationSource[] = [
  controlMigrations,
  routerMigrations,
  dispatcherMigrations,
  webhooksMigrations,
  auditMigrations,
];

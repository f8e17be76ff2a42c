// `massivesms migrate`: applies every service's pending migrations (bin/migrations.ts) to DATABASE_URL.
import { databasePoolOptions, loadConfigOrExit } from '@massivesms/config';
import { createPgDb, migrateAll } from '@massivesms/db';
import { createLogger } from '@massivesms/telemetry';
import { serviceMigrations } from './migrations.ts';
import { migrateSpec } from './specs.ts';

/** Runs `massivesms migrate` (options already checked); returns the exit code. */
export async function runMigrate(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = loadConfigOrExit(migrateSpec, env);
  const log = createLogger({ service: 'migrate', level: config.logLevel });
  const db = createPgDb({ ...databasePoolOptions(config), applicationName: 'massivesms-migrate' });
  try {
    const results = await migrateAll(db, serviceMigrations);
    if (results.length === 0) log.info('no service has migrations yet');
    // `service` is the logger's own (migrate): the service whose migrations these are is `owner`.
    for (const r of results) log.info({ owner: r.service, applied: r.applied }, 'migrations applied');
  } finally {
    await db.close();
  }
  return 0;
}

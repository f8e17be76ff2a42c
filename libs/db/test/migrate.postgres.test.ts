import { postgresAdapter } from './harness.ts';
import { describeMigrationSuite } from './migration-suite.ts';

describeMigrationSuite(postgresAdapter);

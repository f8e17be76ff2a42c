import { pgliteAdapter } from './harness.ts';
import { describeMigrationSuite } from './migration-suite.ts';

describeMigrationSuite(pgliteAdapter);

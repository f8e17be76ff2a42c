import { defineConfig } from 'vitest/config';

// One run covers every workspace. The global setup brings up a real Kafka broker and PostgreSQL
// server once per run (see libs/testkit/src/global-setup.ts); each test file isolates itself with
// its own topic prefix and schema through `useTestEnv()`.
export default defineConfig({
  test: {
    include: [
      'libs/*/test/**/*.test.ts',
      'services/*/test/**/*.test.ts',
      'infra/test/**/*.test.ts',
      'bin/test/**/*.test.ts',
      'bench/test/**/*.test.ts',
    ],
    globalSetup: ['libs/testkit/src/global-setup.ts'],
    // Service logs are printed only under a failed test (libs/testkit/src/test-logs.ts).
    setupFiles: ['libs/testkit/src/test-logs-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './libs/testkit/src/summary-reporter.ts'],
  },
});

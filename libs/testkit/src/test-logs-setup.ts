import { beforeEach } from 'vitest';
import { takeTestLogs } from './test-logs.ts';

// Each test starts with the log lines of its own hooks only; if it fails, the services' lines written
// since the previous test (for a file's first test, since its setup began) are printed under it.
let firstTest = true;
beforeEach((context) => {
  if (!firstTest) takeTestLogs();
  firstTest = false;
  context.onTestFailed(() => {
    const logs = takeTestLogs();
    if (logs.length > 0) console.log(`service logs of the failed test:\n${logs.join('')}`);
  });
});

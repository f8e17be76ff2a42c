import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dispatchRecordSchema } from '@massivesms/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, type RouterHarness, startHarness } from './harness.ts';

const run = promisify(execFile);
const example = fileURLToPath(
  new URL('../../../libs/contracts/examples/sms.requested.v1.json', import.meta.url),
);
const kcatAvailable = await run('sh', ['-c', 'command -v kcat']).then(
  () => true,
  () => false,
);

// The documented producer command (docs/producers.md), run as a producer in another language would.
// CI installs kcat (.ci/run); on a workstation without it this check is not run.
describe.runIf(kcatAvailable || process.env.CI === 'true')('producing with kcat (docs/producers.md)', () => {
  let h: RouterHarness;
  beforeAll(async () => {
    h = await startHarness('us');
    await h.publishController({ id: 'acme-us' });
    await h.startRouter(() => new Date('2026-11-26T12:00:00Z'));
  });
  afterAll(() => h.close());

  it('the documented example, produced with kcat, is dispatched', async () => {
    await run('kcat', [
      '-P',
      '-b',
      h.topics.brokers.join(','),
      '-t',
      h.topic('sms.requested.v1'),
      '-H',
      'region=us',
      example,
    ]);
    await eventually(20_000, () =>
      expect(h.read('sms.dispatch.v1').map((r) => dispatchRecordSchema.parse(json(r)).messageId)).toContain(
        'msg-2026-000001',
      ),
    );
  });
});

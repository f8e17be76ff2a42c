import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { dispatchRecordSchema, statusEventSchema } from '@massivesms/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, json, type RouterHarness, startHarness } from './harness.ts';

const run = promisify(execFile);
const guide = readFileSync(new URL('../../../docs/producers.md', import.meta.url), 'utf8');
const openapi = JSON.parse(readFileSync(new URL('../../control/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};
const kcatAvailable = await run('sh', ['-c', 'command -v kcat']).then(
  () => true,
  () => false,
);

/** The fenced `sh` blocks of the guide, in order. */
const shellBlocks = [...guide.matchAll(/```sh\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
/** The block the guide says a test runs: the one that produces with kcat. */
const produceBlock = shellBlocks.find((b) => b.includes('kcat -P'));
/** The onboarding calls: method, path, and the JSON body when there is one. */
const onboarding = (shellBlocks[0] ?? '')
  .split(/^(?=curl )/m)
  .filter((chunk) => chunk.startsWith('curl '))
  .map((chunk) => ({
    method: /-X (\w+)/.exec(chunk)?.[1] ?? 'GET',
    path: /"\$CONTROL_URL([^"]+)"/.exec(chunk)?.[1] ?? '',
    body: /-d '([^']*)'/.exec(chunk)?.[1],
  }));

describe('docs/producers.md', () => {
  it('onboards with calls the control API answers (as its OpenAPI document describes it)', () => {
    expect(onboarding.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /v1/controllers',
      'POST /v1/controllers/acme-us/instructions',
      'POST /v1/controllers/acme-us/tokens',
    ]);
    for (const call of onboarding) {
      const route = Object.entries(openapi.paths).find(([template, methods]) => {
        const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
        return pattern.test(call.path) && call.method.toLowerCase() in methods;
      });
      expect(route, `${call.method} ${call.path} in services/control/openapi.json`).toBeDefined();
    }
  });
});

// The documented producer command, run as written (a producer in another language would), at the
// time the test runs: the record it makes cannot have expired, whatever the date. CI installs kcat
// (.ci/run); on a workstation without it this part is not run.
describe.runIf(kcatAvailable || process.env.CI === 'true')('producing with kcat (docs/producers.md)', () => {
  let h: RouterHarness;
  beforeAll(async () => {
    h = await startHarness('us');
    // The controller as the guide's onboarding leaves it: with the instruction document it publishes.
    const instruction = onboarding.find((c) => c.path.endsWith('/instructions'))?.body;
    expect(instruction).toBeDefined();
    await h.publishController({ id: 'acme-us', instruction: JSON.parse(instruction!) });
    await h.startRouter(); // the real clock
  });
  afterAll(() => h.close());

  it('the documented example, produced with kcat today, is dispatched (not expired)', async () => {
    expect(produceBlock).toBeDefined();
    // Only the topic changes: each test file works in its own topic namespace.
    const script = produceBlock!.replaceAll(' us.sms.requested.v1 ', ` ${h.topic('sms.requested.v1')} `);
    expect(script).not.toBe(produceBlock);
    const before = Date.now();
    await run('sh', ['-c', script], {
      env: { ...process.env, KAFKA_BROKERS: h.topics.brokers.join(',') },
    });
    await eventually(20_000, () =>
      expect(h.read('sms.dispatch.v1').map((r) => dispatchRecordSchema.parse(json(r)).messageId)).toContain(
        'msg-2026-000001',
      ),
    );
    const [dispatched] = h.read('sms.dispatch.v1').map((r) => dispatchRecordSchema.parse(json(r)));
    // Valid for about an hour from when the command ran, as the guide says.
    const validFor = Date.parse(dispatched!.validUntil!) - before;
    expect(validFor).toBeGreaterThan(55 * 60_000);
    expect(validFor).toBeLessThanOrEqual(60 * 60_000);
    const statuses = h.read('sms.status.v1').map((r) => statusEventSchema.parse(json(r)).status);
    expect(statuses).toEqual(['accepted']);
  });
});

// The operations endpoints of every service as `massivesms <service>` serves them: HEAD answers like
// GET (status and content type, no body) on /metrics, /healthz and /readyz, so a probe or a scraper
// that checks with HEAD sees the same service on every one (the router answered 405).
import { eventually } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultPipeline, type Service, startFaultPipeline } from './faults/pipeline.ts';

const SERVICES: readonly Service[] = ['router', 'dispatcher', 'webhooks', 'audit', 'control'];

describe('operations endpoints of every service (real processes)', () => {
  let p: FaultPipeline;

  beforeAll(async () => {
    p = await startFaultPipeline({ also: ['audit', 'control'] });
    for (const service of SERVICES) {
      await eventually(60_000, async () => {
        const ready = await fetch(`${p.opsUrl(service)}/readyz`).catch(() => undefined);
        expect(ready?.status, `${service} ready`).toBe(200);
      });
    }
  }, 120_000);
  afterAll(async () => {
    await p?.close();
  });

  it.each(SERVICES)('%s answers HEAD like GET on /metrics, /healthz and /readyz', async (service) => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const get = await fetch(`${p.opsUrl(service)}${path}`);
      const head = await fetch(`${p.opsUrl(service)}${path}`, { method: 'HEAD' });
      expect(head.status, `HEAD ${path}`).toBe(get.status);
      expect(head.status, `HEAD ${path}`).toBe(200);
      expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
      expect(await head.text()).toBe('');
      expect((await get.text()).length).toBeGreaterThan(0);
    }
    const post = await fetch(`${p.opsUrl(service)}/metrics`, { method: 'POST' });
    expect([404, 405]).toContain(post.status);
  });
});

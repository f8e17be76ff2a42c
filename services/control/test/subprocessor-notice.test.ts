import { defineSubprocessorRegistry, SUBPROCESSORS } from '@massivesms/privacy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlHarness, startControl } from './harness.ts';

// DPA §6: a new subprocessor may be used only once its 30-day notice period has passed.
const registry = defineSubprocessorRegistry([
  ...SUBPROCESSORS,
  {
    name: 'sinch',
    legalEntity: 'Sinch AB',
    purpose: 'sms.delivery',
    route: 'failover',
    regions: { us: { location: 'United States', country: 'US', host: 'us.sms.api.sinch.com' } },
    dataCategories: ['user.contact.phone_number', 'user.content.private'],
    noticeDate: '2027-03-01',
    effectiveDate: '2027-03-31',
    transferMechanisms: [],
  },
]);

describe('a newly announced subprocessor (fake clock)', () => {
  let h: ControlHarness;
  let now = new Date('2027-03-30T12:00:00Z'); // day 29 after the notice
  const instruction = {
    purposes: ['essential.service.notifications.sms'],
    subprocessors: ['telnyx', 'sinch'],
    retention: { contentDays: 7, metadataDays: 90 },
    storeContentAfterDispatch: false,
  };

  beforeAll(async () => {
    h = await startControl({ clock: () => now, subprocessorRegistry: registry });
    await h.call('POST', '/v1/controllers', { body: { id: 'acme', name: 'Acme', region: 'us' } });
  });
  afterAll(() => h.close());

  it('is listed as noticed and refused in an instruction on day 29', async () => {
    const list = await h.call('GET', '/v1/subprocessors', { token: null });
    expect(list.body.items.find((s: { name: string }) => s.name === 'sinch')).toMatchObject({
      status: 'noticed',
      effectiveDate: '2027-03-31',
    });
    const res = await h.call('POST', '/v1/controllers/acme/instructions', { body: instruction });
    expect(res.status).toBe(422);
    expect(res.body.problems).toEqual([
      expect.objectContaining({ code: 'INSTRUCTION_SUBPROCESSOR_NOT_EFFECTIVE', path: 'subprocessors[1]' }),
    ]);
  });

  it('is effective and accepted on day 30', async () => {
    now = new Date('2027-03-31T00:00:00Z');
    const list = await h.call('GET', '/v1/subprocessors', { token: null });
    expect(list.body.items.find((s: { name: string }) => s.name === 'sinch')?.status).toBe('effective');
    const res = await h.call('POST', '/v1/controllers/acme/instructions', { body: instruction });
    expect(res.status).toBe(201);
    expect(res.body.document.subprocessors).toEqual(['telnyx', 'sinch']);
  });
});

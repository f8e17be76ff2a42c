import { describe, expect, it } from 'vitest';
import { consumerGroup } from '../src/index.ts';

describe('consumer groups', () => {
  it('are per service and cell, and carry the topic namespace so two namespaces never share a group', () => {
    expect(consumerGroup('dispatcher', 'us')).toBe('dispatcher.us');
    expect(consumerGroup('router', 'eu', '', 'suppressions')).toBe('router.eu.suppressions');
    expect(consumerGroup('webhooks', 'us', 'tabc')).toBe('tabc.webhooks.us');
    expect(consumerGroup('webhooks', 'us', 'tabc')).not.toBe(consumerGroup('webhooks', 'us', 'tdef'));
  });
});

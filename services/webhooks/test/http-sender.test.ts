import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpSender, parseRetryAfter } from '../src/adapters/http-sender.ts';

// The sender against a plain local server: what it keeps of a response, and how it reports one.
describe('HTTP sender', () => {
  let server: http.Server;
  let origin: string;
  const sender = createHttpSender({
    ssrf: { allowList: ['127.0.0.1'] },
    connectTimeoutMs: 1_000,
    totalTimeoutMs: 1_000,
    connectionsPerEndpoint: 2,
    maxResponseBytes: 64,
  });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.url === '/echo') res.writeHead(400).end(`bad request: ${body}`);
        else if (req.url === '/big') res.writeHead(200).end('x'.repeat(100_000));
        else if (req.url === '/busy') res.writeHead(503, { 'retry-after': '120' }).end();
        else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await sender.close();
    await new Promise((r) => server.close(r));
  });

  it('a response that echoes our body keeps no phone number in the stored excerpt', async () => {
    const result = await sender.post('ep', `${origin}/echo`, {}, '{"data":{"to":"+14155552671"}}');
    expect(result.status).toBe(400);
    expect(result.responseExcerpt).toContain('bad request');
    expect(result.responseExcerpt).not.toContain('4155552671');
  });

  it.each([
    '14155552671',
    '%2B14155552671',
    '+1 (415) 555-2671',
    '00 1 415 555 2671',
    'to=1.415.555.2671&x=1',
  ])('an echo of the number written as %j is scrubbed too', async (form) => {
    const result = await sender.post('ep', `${origin}/echo`, {}, `{"data":{"to":"${form}"}}`);
    expect(result.responseExcerpt).toContain('[redacted:phone]');
    expect(result.responseExcerpt!.replace(/\D/g, '')).not.toContain('4155552671');
  });

  it('keeps at most the configured bytes of a large response', async () => {
    const result = await sender.post('ep', `${origin}/big`, {}, '{}');
    expect(result.status).toBe(200);
    expect(result.responseExcerpt).toHaveLength(64);
  });

  it('reports Retry-After in seconds, in both of its forms', async () => {
    expect((await sender.post('ep', `${origin}/busy`, {}, '{}')).retryAfterSeconds).toBe(120);
    expect(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThanOrEqual(29);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('an address the SSRF policy refuses is never connected to', async () => {
    const result = await sender.post('ep', 'https://10.0.0.1/hook', {}, '{}');
    expect(result).toMatchObject({ error: 'ssrf_refused', responseExcerpt: 'non_public_address' });
  });
});

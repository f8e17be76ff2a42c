import type { LookupAddress, LookupOptions } from 'node:dns';
import { createServer, request } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkUrl, type Resolver, vettedLookup } from '../src/index.ts';

type Answer = { error: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number };

/** Calls a lookup function and collects what it answers. */
function ask(lookup: LookupFunction, hostname: string, options: LookupOptions): Promise<Answer> {
  return new Promise((resolve) => {
    lookup(hostname, options, (error, address, family) => resolve({ error, address, family }));
  });
}

const V4 = { address: '93.184.216.34', family: 4 } as const;
const V6 = { address: '2606:2800:220:1::1', family: 6 } as const;

describe('vettedLookup', () => {
  it('answers with all vetted addresses when asked for all', async () => {
    const answer = await ask(vettedLookup([V4, V6]), 'hooks.example.com', { all: true });
    expect(answer.error).toBeNull();
    expect(answer.address).toEqual([V4, V6]);
  });

  it('answers with the first vetted address when asked for one', async () => {
    const answer = await ask(vettedLookup([V6, V4]), 'hooks.example.com', {});
    expect(answer).toEqual({ error: null, address: V6.address, family: 6 });
  });

  it('honours a requested family, and fails when no vetted address has it', async () => {
    const both = vettedLookup([V4, V6]);
    expect(await ask(both, 'hooks.example.com', { family: 6 })).toEqual({
      error: null,
      address: V6.address,
      family: 6,
    });
    expect((await ask(both, 'hooks.example.com', { family: 'IPv4', all: true })).address).toEqual([V4]);
    const missing = await ask(vettedLookup([V4]), 'hooks.example.com', { family: 6 });
    expect(missing.error?.code).toBe('ENOTFOUND');
  });

  it('answers asynchronously, like dns.lookup', () => {
    let answered = false;
    vettedLookup([V4])('hooks.example.com', {}, () => {
      answered = true;
    });
    expect(answered).toBe(false);
  });

  it('refuses other host names when bound to the vetted one', async () => {
    const lookup = vettedLookup([V4], { hostname: 'Hooks.Example.com.' });
    expect((await ask(lookup, 'hooks.example.com', {})).address).toBe(V4.address);
    const other = await ask(lookup, 'other.example.com', {});
    expect(other.error?.code).toBe('ENOTFOUND');
  });

  it('rejects an empty or malformed list of vetted addresses', () => {
    expect(() => vettedLookup([])).toThrow(TypeError);
    expect(() => vettedLookup([{ address: 'example.com', family: 4 }])).toThrow(TypeError);
  });

  it('makes node:http connect to the vetted address while the Host header keeps the name', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // The name is unresolvable on purpose: only the vetted lookup can make this request arrive.
      const resolver: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
      const checked = await checkUrl(`http://example.invalid:${port}/hook`, {
        allowList: ['example.invalid'],
        resolver,
      });
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          {
            host: checked.url.hostname,
            port,
            path: checked.url.pathname,
            method: 'POST',
            lookup: vettedLookup(checked.addresses, { hostname: checked.url.hostname }),
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () => resolve(text));
          },
        );
        req.on('error', reject);
        req.end('{}');
      });
      expect(body).toBe('ok');
      expect(seen).toEqual([`POST /hook host=example.invalid:${port}`]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

import { describe, expect, it } from 'vitest';
import {
  buildCallbackUrl,
  type CallbackTarget,
  callbackPath,
  normalisePublicBase,
  parseCallbackPath,
} from '../../src/domain/callback.ts';

// Known answers written by hand: ':' is the one id character encodeURIComponent changes (%3A).

describe('buildCallbackUrl', () => {
  it.each([
    {
      base: 'https://hooks.example.com',
      target: { carrier: 'telnyx', controllerId: 'acme', messageId: 'm-1' },
      url: 'https://hooks.example.com/receipts/telnyx/acme/m-1',
    },
    {
      base: 'https://hooks.example.com/',
      target: { carrier: 'twilio', controllerId: 'acme', messageId: 'm-1' },
      url: 'https://hooks.example.com/receipts/twilio/acme/m-1',
    },
    {
      base: 'https://hooks.example.com/eu/dispatcher//',
      target: { carrier: 'twilio', controllerId: 'c.1_x', messageId: 'camp:42:7' },
      url: 'https://hooks.example.com/eu/dispatcher/receipts/twilio/c.1_x/camp%3A42%3A7',
    },
    {
      base: 'HTTPS://Hooks.Example.com:443',
      target: { carrier: 'telnyx', controllerId: 'a', messageId: 'b' },
      url: 'https://hooks.example.com/receipts/telnyx/a/b',
    },
    {
      base: 'http://127.0.0.1:8080',
      target: { carrier: 'telnyx', controllerId: 'a', messageId: 'b' },
      url: 'http://127.0.0.1:8080/receipts/telnyx/a/b',
    },
    {
      base: 'http://localhost:3000/',
      target: { carrier: 'twilio', controllerId: 'a', messageId: 'b' },
      url: 'http://localhost:3000/receipts/twilio/a/b',
    },
    {
      base: 'http://[::1]:3000',
      target: { carrier: 'twilio', controllerId: 'a', messageId: 'b' },
      url: 'http://[::1]:3000/receipts/twilio/a/b',
    },
  ] as const)('$base + $target.messageId', ({ base, target, url }) => {
    expect(buildCallbackUrl(base, target)).toBe(url);
  });

  it('128-character ids fit; 129 do not', () => {
    const id = 'a'.repeat(128);
    expect(callbackPath({ carrier: 'telnyx', controllerId: id, messageId: id })).toBe(
      `/receipts/telnyx/${id}/${id}`,
    );
    expect(() => callbackPath({ carrier: 'telnyx', controllerId: `${id}a`, messageId: 'm' })).toThrow(
      /controllerId/,
    );
  });

  it.each([
    {
      name: 'empty controller',
      target: { carrier: 'telnyx', controllerId: '', messageId: 'm' },
      error: /controllerId/,
    },
    {
      name: 'slash in message id',
      target: { carrier: 'telnyx', controllerId: 'c', messageId: 'a/b' },
      error: /messageId/,
    },
    {
      name: 'dot-dot message id',
      target: { carrier: 'telnyx', controllerId: 'c', messageId: '..' },
      error: /messageId/,
    },
    {
      name: 'space in controller',
      target: { carrier: 'twilio', controllerId: 'a b', messageId: 'm' },
      error: /controllerId/,
    },
    {
      name: 'unlisted carrier',
      target: { carrier: 'vonage', controllerId: 'c', messageId: 'm' },
      error: /carrier/,
    },
  ])('refuses to build with $name', ({ target, error }) => {
    expect(() => buildCallbackUrl('https://h.example', target as CallbackTarget)).toThrow(error);
  });

  it.each([
    { base: 'not a url', error: /not a URL/ },
    { base: 'http://hooks.example.com', error: /https/ },
    { base: 'http://10.0.0.1', error: /https/ },
    { base: 'ftp://hooks.example.com', error: /https/ },
    { base: 'https://user:pw@hooks.example.com', error: /credentials/ },
    { base: 'https://hooks.example.com/?x=1', error: /query/ },
    { base: 'https://hooks.example.com/?', error: /query/ },
    { base: 'https://hooks.example.com/#f', error: /query or fragment/ },
  ])('refuses the public base $base', ({ base, error }) => {
    expect(() => normalisePublicBase(base)).toThrow(error);
  });
});

describe('parseCallbackPath', () => {
  it.each([
    {
      path: '/receipts/telnyx/acme/m-1',
      target: { carrier: 'telnyx', controllerId: 'acme', messageId: 'm-1' },
    },
    {
      path: '/receipts/twilio/c.1_x/camp%3A42%3A7',
      target: { carrier: 'twilio', controllerId: 'c.1_x', messageId: 'camp:42:7' },
    },
  ] as const)('$path', ({ path, target }) => {
    expect(parseCallbackPath(path)).toEqual(target);
  });

  it('reads what the builder writes, behind a mount path too', () => {
    const target: CallbackTarget = { carrier: 'twilio', controllerId: 'ctl:9', messageId: 'x.y-z_1' };
    const url = new URL(buildCallbackUrl('https://h.example/eu/dispatcher', target));
    expect(parseCallbackPath(url.pathname, '/eu/dispatcher')).toEqual(target);
    expect(parseCallbackPath(url.pathname, 'eu/dispatcher/')).toEqual(target);
    expect(parseCallbackPath(url.pathname)).toBeUndefined();
    expect(parseCallbackPath(callbackPath(target), '/eu/dispatcher')).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['root', '/'],
    ['prefix only', '/receipts/'],
    ['no ids', '/receipts/telnyx'],
    ['one id', '/receipts/telnyx/acme'],
    ['empty message id', '/receipts/telnyx/acme/'],
    ['empty controller id', '/receipts/telnyx//m-1'],
    ['extra segment', '/receipts/telnyx/acme/m-1/extra'],
    ['trailing slash', '/receipts/telnyx/acme/m-1/'],
    ['double slash before the ids', '/receipts//telnyx/acme/m-1'],
    ['unknown carrier', '/receipts/vonage/acme/m-1'],
    ['carrier in another case', '/receipts/Telnyx/acme/m-1'],
    ['other route', '/webhooks/telnyx/acme/m-1'],
    ['no leading slash', 'receipts/telnyx/acme/m-1'],
    ['dot segment', '/receipts/telnyx/./m-1'],
    ['dot-dot segment', '/receipts/telnyx/../m-1'],
    ['encoded dot-dot', '/receipts/telnyx/%2E%2E/m-1'],
    ['traversal before the prefix', '/x/../receipts/telnyx/acme/m-1'],
    ['encoded slash in an id', '/receipts/telnyx/acme/a%2Fb'],
    ['encoded backslash in an id', '/receipts/telnyx/acme/a%5Cb'],
    ['double-encoded slash', '/receipts/telnyx/acme/a%252Fb'],
    ['malformed percent escape', '/receipts/telnyx/acme/m%ZZ'],
    ['truncated percent escape', '/receipts/telnyx/acme/m%3'],
    ['lowercase escape (non-canonical)', '/receipts/twilio/acme/camp%3a42'],
    ['needless escape (non-canonical)', '/receipts/twilio/%61cme/m-1'],
    ['encoded space', '/receipts/twilio/acme/m%201'],
    ['NUL byte', '/receipts/twilio/acme/m%00'],
    ['non-ASCII id', '/receipts/twilio/acme/m%C3%A9'],
    ['query string', '/receipts/telnyx/acme/m-1?x=1'],
    ['fragment', '/receipts/telnyx/acme/m-1#x'],
    ['id starting with a dot', '/receipts/telnyx/.acme/m-1'],
    ['id of 129 characters', `/receipts/telnyx/${'a'.repeat(129)}/m-1`],
    ['absurdly long path', `/receipts/telnyx/acme/${'a'.repeat(5000)}`],
  ])('rejects %s', (_name, path) => {
    expect(parseCallbackPath(path)).toBeUndefined();
  });
});

import { connect } from 'node:tls';
import { processingEventSchema, topicFor } from '@massivesms/contracts';
import { decryptField, Keyring, LocalKms, toControllerId, toWrappedKey } from '@massivesms/privacy';
import { eventually } from '@massivesms/testkit';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlHarness, OPERATOR_TOKEN, startControl, startViews } from './harness.ts';

const instruction = {
  purposes: ['essential.service.notifications.sms', 'marketing.communications.sms'],
  subprocessors: ['telnyx', 'twilio'],
  retention: { contentDays: 30, metadataDays: 365 },
  storeContentAfterDispatch: false,
};

describe('control API (real PostgreSQL and Kafka)', () => {
  let h: ControlHarness;
  let acmeToken: string;
  let globexToken: string;

  beforeAll(async () => {
    h = await startControl();
    for (const id of ['acme', 'globex']) {
      const created = await h.call('POST', '/v1/controllers', {
        body: { id, name: `${id} Inc.`, region: 'us' },
      });
      expect(created.status).toBe(201);
    }
    acmeToken = (await h.call('POST', '/v1/controllers/acme/tokens')).body.token;
    globexToken = (await h.call('POST', '/v1/controllers/globex/tokens')).body.token;
  });
  afterAll(() => h.close());

  describe('authentication and scope', () => {
    it('answers 401 problem+json without a token or with an unknown one', async () => {
      for (const token of [null, 'mss_not-a-token']) {
        const res = await h.call('GET', '/v1/controllers/acme', { token });
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(res.body).toMatchObject({ code: 'AUTH_REQUIRED', status: 401 });
      }
    });

    it('checks the token before the body: no token and an invalid body get 401, not 400', async () => {
      for (const token of [null, 'mss_not-a-token']) {
        const res = await h.call('POST', '/v1/controllers/acme/endpoints', {
          token,
          body: { url: 42, eventTypes: ['no.such.event'], extra: true },
        });
        expect(res.status).toBe(401);
        expect(res.body).toMatchObject({ code: 'AUTH_REQUIRED' });
        expect(JSON.stringify(res.body)).not.toContain('eventTypes');
      }
      // With a valid token, the same body is refused for what it is.
      const valid = await h.call('POST', '/v1/controllers/acme/endpoints', {
        token: acmeToken,
        body: { url: 42, eventTypes: ['no.such.event'], extra: true },
      });
      expect(valid.status).toBe(400);
    });

    it('lets a controller token read its own controller and answers 404 for another one', async () => {
      expect((await h.call('GET', '/v1/controllers/acme', { token: acmeToken })).body).toMatchObject({
        id: 'acme',
        region: 'us',
      });
      for (const [method, path, body] of [
        ['GET', '/v1/controllers/globex', undefined],
        ['PATCH', '/v1/controllers/globex', { name: 'pwned' }],
        ['GET', '/v1/controllers/globex/instructions', undefined],
        ['POST', '/v1/controllers/globex/instructions', instruction],
        ['GET', '/v1/controllers/globex/endpoints', undefined],
        [
          'POST',
          '/v1/controllers/globex/endpoints',
          { url: 'https://hooks.example.test/x', eventTypes: ['message.delivered'] },
        ],
      ] as const) {
        const res = await h.call(method, path, { token: acmeToken, body });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
      }
      expect((await h.call('GET', '/v1/controllers/globex', { token: globexToken })).status).toBe(200);
    });

    it("cannot reach another controller's endpoint through its own controller path", async () => {
      const created = await h.call('POST', '/v1/controllers/globex/endpoints', {
        token: globexToken,
        body: { url: 'https://hooks.example.test/globex', eventTypes: ['message.delivered'] },
      });
      expect(created.status).toBe(201);
      const res = await h.call('GET', `/v1/controllers/acme/endpoints/${created.body.id}`, {
        token: acmeToken,
      });
      expect(res.status).toBe(404);
      const del = await h.call('DELETE', `/v1/controllers/acme/endpoints/${created.body.id}`, {
        token: acmeToken,
      });
      expect(del.status).toBe(404);
    });

    it('keeps controller creation, listing and token issuing for operators', async () => {
      expect((await h.call('GET', '/v1/controllers', { token: acmeToken })).body.code).toBe('OPERATOR_ONLY');
      expect((await h.call('POST', '/v1/controllers/acme/tokens', { token: acmeToken })).status).toBe(403);
      const created = await h.call('POST', '/v1/controllers', {
        token: acmeToken,
        body: { name: 'sneaky', region: 'us' },
      });
      expect(created.status).toBe(403);
      const list = await h.call('GET', '/v1/controllers');
      expect(list.body.items.map((c: { id: string }) => c.id)).toEqual(['acme', 'globex']);
    });
  });

  describe('controllers', () => {
    it('refuses to change a home region, with a stable code', async () => {
      const res = await h.call('PATCH', '/v1/controllers/acme', { body: { region: 'eu' } });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('CONTROLLER_REGION_IMMUTABLE');
      expect((await h.call('GET', '/v1/controllers/acme')).body.region).toBe('us');
    });

    it('refuses a controller homed in the other region and a duplicate id', async () => {
      const eu = await h.call('POST', '/v1/controllers', { body: { name: 'Euro GmbH', region: 'eu' } });
      expect(eu.status).toBe(422);
      expect(eu.body.code).toBe('CONTROLLER_WRONG_CELL');
      const dup = await h.call('POST', '/v1/controllers', {
        body: { id: 'acme', name: 'Again', region: 'us' },
      });
      expect(dup.status).toBe(409);
      expect(dup.body.code).toBe('CONTROLLER_EXISTS');
    });

    it('answers a malformed request with the offending fields', async () => {
      const res = await h.call('POST', '/v1/controllers', { body: { name: '', region: 'apac', extra: 1 } });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('REQUEST_INVALID');
      expect(JSON.stringify(res.body.errors)).toContain('region');
    });

    it('creates a data key and a pseudonym key for every controller', async () => {
      const { rows } = await h.db.query<{ controller_id: string }>(
        'SELECT controller_id FROM control_controller_keys WHERE data_key_wrapped IS NOT NULL AND pseudonym_key_wrapped IS NOT NULL ORDER BY 1',
      );
      expect(rows.map((r) => r.controller_id)).toEqual(['acme', 'globex']);
    });
  });

  describe('instructions', () => {
    it('publishes immutable, hashed versions; exactly one is current', async () => {
      const v1 = await h.call('POST', '/v1/controllers/acme/instructions', {
        token: acmeToken,
        body: instruction,
      });
      expect(v1.status).toBe(201);
      expect(v1.body).toMatchObject({ version: 1, controllerId: 'acme' });
      expect(v1.body.ref).toBe(`acme-sms@1#${v1.body.sha256}`);
      // Same document, keys in another order: same canonical hash.
      const reordered = Object.fromEntries(Object.entries(instruction).reverse());
      const v2 = await h.call('POST', '/v1/controllers/acme/instructions', {
        token: acmeToken,
        body: reordered,
      });
      expect(v2.body.version).toBe(2);
      expect(v2.body.sha256).toBe(v1.body.sha256);
      const current = await h.call('GET', '/v1/controllers/acme/instructions/current', { token: acmeToken });
      expect(current.body.version).toBe(2);
      expect(
        (await h.call('GET', '/v1/controllers/acme/instructions/1', { token: acmeToken })).body.version,
      ).toBe(1);
      expect(
        (await h.call('GET', '/v1/controllers/acme/instructions', { token: acmeToken })).body.items,
      ).toHaveLength(2);
      await expect(
        h.db.query("UPDATE control_instructions SET sha256 = 'x' WHERE controller_id = 'acme'"),
      ).rejects.toThrow(/immutable/);
      await expect(
        h.db.query("DELETE FROM control_instructions WHERE controller_id = 'acme'"),
      ).rejects.toThrow(/immutable/);
    });

    it('refuses an instruction the processor must not follow, listing every problem', async () => {
      const res = await h.call('POST', '/v1/controllers/globex/instructions', {
        token: globexToken,
        body: {
          purposes: ['marketing.communications.sms', 'profiling.ads'],
          subprocessors: ['telnyx', 'carrier-pigeon'],
          retention: { contentDays: 5000, metadataDays: 30 },
          storeContentAfterDispatch: true,
        },
      });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('INSTRUCTION_REFUSED');
      const codes = res.body.problems.map((p: { code: string }) => p.code).sort();
      expect(codes).toEqual(
        expect.arrayContaining([
          'INSTRUCTION_RETENTION_TOO_LONG',
          'INSTRUCTION_UNKNOWN_PURPOSE',
          'INSTRUCTION_UNKNOWN_SUBPROCESSOR',
        ]),
      );
      for (const p of res.body.problems) expect(p.path).toBeTypeOf('string');
      expect(
        (await h.call('GET', '/v1/controllers/globex/instructions/current', { token: globexToken })).status,
      ).toBe(404);
    });
  });

  describe('webhook endpoints', () => {
    it('generates a whsec_ secret of 32 random bytes, shows it once and stores it encrypted', async () => {
      const res = await h.call('POST', '/v1/controllers/acme/endpoints', {
        token: acmeToken,
        body: { url: 'https://hooks.example.test/acme', eventTypes: ['message.delivered', 'message.failed'] },
      });
      expect(res.status).toBe(201);
      expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(Buffer.from(res.body.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
      // The secret signs as Standard Webhooks expects.
      const wh = new Webhook(res.body.secret);
      const signature = wh.sign('msg_1', new Date(), '{"a":1}');
      expect(() =>
        wh.verify('{"a":1}', {
          'webhook-id': 'msg_1',
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': signature,
        }),
      ).not.toThrow();
      const read = await h.call('GET', `/v1/controllers/acme/endpoints/${res.body.id}`, { token: acmeToken });
      expect(JSON.stringify(read.body)).not.toContain(res.body.secret.slice(6));
      const { rows } = await h.db.query<{ ciphertext: string }>(
        'SELECT ciphertext FROM control_endpoint_secrets',
      );
      for (const row of rows) expect(row.ciphertext).not.toContain(res.body.secret.slice(6, 20));
    });

    it('updates and deletes an endpoint', async () => {
      const created = await h.call('POST', '/v1/controllers/acme/endpoints', {
        token: acmeToken,
        body: { url: 'https://hooks.example.test/tmp', eventTypes: ['message.sent'] },
      });
      const id = created.body.id;
      const patched = await h.call('PATCH', `/v1/controllers/acme/endpoints/${id}`, {
        token: acmeToken,
        body: { enabled: false, eventTypes: ['message.sent', 'message.expired'] },
      });
      expect(patched.body).toMatchObject({ enabled: false, eventTypes: ['message.sent', 'message.expired'] });
      expect(
        (await h.call('DELETE', `/v1/controllers/acme/endpoints/${id}`, { token: acmeToken })).status,
      ).toBe(204);
      expect((await h.call('GET', `/v1/controllers/acme/endpoints/${id}`, { token: acmeToken })).status).toBe(
        404,
      );
    });

    it('refuses unknown event types and an empty subscription', async () => {
      for (const eventTypes of [['message.teleported'], []]) {
        const res = await h.call('POST', '/v1/controllers/acme/endpoints', {
          token: acmeToken,
          body: { url: 'https://hooks.example.test/x', eventTypes },
        });
        expect(res.status).toBe(400);
        expect(res.body.code).toBe('REQUEST_INVALID');
      }
    });

    it.each([
      ['plain http to a public host', 'http://hooks.example.test/x', 'scheme_not_https'],
      ['a private address', 'https://10.0.0.8/hook', 'non_public_address'],
      ['the cloud metadata address', 'https://169.254.169.254/latest/meta-data', 'non_public_address'],
      ['loopback written as IPv4-mapped IPv6', 'https://[::ffff:127.0.0.1]/hook', 'non_public_address'],
      [
        'a hostname that resolves to a private address',
        'https://internal.example.test/hook',
        'non_public_address',
      ],
      [
        'a hostname with one private answer among public ones',
        'https://rebind.example.test/hook',
        'non_public_address',
      ],
      ['credentials in the URL', 'https://user:pw@hooks.example.test/x', 'credentials_in_url'],
      ['a name that does not resolve', 'https://nowhere.example.test/x', 'unresolvable'],
    ])('refuses %s at registration (SSRF)', async (_label, url, reason) => {
      const res = await h.call('POST', '/v1/controllers/acme/endpoints', {
        token: acmeToken,
        body: { url, eventTypes: ['message.delivered'] },
      });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'ENDPOINT_URL_REFUSED', reason });
    });

    it('accepts the allow-listed local receiver over http', async () => {
      const res = await h.call('POST', '/v1/controllers/acme/endpoints', {
        token: acmeToken,
        body: { url: 'http://127.0.0.1:9/receiver', eventTypes: ['message.delivered'] },
      });
      expect(res.status).toBe(201);
    });

    it('rotates the secret, keeping the old one valid for the grace period (default 24 h, 0 allowed)', async () => {
      const created = await h.call('POST', '/v1/controllers/acme/endpoints', {
        token: acmeToken,
        body: { url: 'https://hooks.example.test/rotate', eventTypes: ['message.delivered'] },
      });
      const id = created.body.id;
      const before = Date.now();
      const rotated = await h.call('POST', `/v1/controllers/acme/endpoints/${id}/secret/rotate`, {
        token: acmeToken,
        body: {},
      });
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).not.toBe(created.body.secret);
      expect(rotated.body.secrets).toHaveLength(2);
      const old = rotated.body.secrets.find((s: { expiresAt: string | null }) => s.expiresAt !== null);
      const expires = Date.parse(old.expiresAt);
      expect(expires).toBeGreaterThanOrEqual(before + 86_400_000 - 1_000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 86_400_000 + 1_000);

      const immediate = await h.call('POST', `/v1/controllers/acme/endpoints/${id}/secret/rotate`, {
        token: acmeToken,
        body: { graceSeconds: 0 },
      });
      expect(immediate.body.secrets).toHaveLength(1);
      expect(immediate.body.secrets[0].secretId).toBe(immediate.body.secretId);
    });

    it('reading an endpoint back lists the valid secrets after a rotation (ids and dates, never the secret)', async () => {
      const created = await h.call('POST', '/v1/controllers/acme/endpoints', {
        token: acmeToken,
        body: { url: 'https://hooks.example.test/read-back', eventTypes: ['message.delivered'] },
      });
      const id = created.body.id;
      const fresh = await h.call('GET', `/v1/controllers/acme/endpoints/${id}`, { token: acmeToken });
      expect(fresh.body.secrets).toEqual(created.body.secrets);
      expect(fresh.body.secrets).toHaveLength(1);

      const rotated = await h.call('POST', `/v1/controllers/acme/endpoints/${id}/secret/rotate`, {
        token: acmeToken,
        body: {},
      });
      const read = await h.call('GET', `/v1/controllers/acme/endpoints/${id}`, { token: acmeToken });
      expect(read.status).toBe(200);
      expect(read.body.secrets).toEqual(rotated.body.secrets);
      expect(read.body.secrets.map((s: { secretId: string }) => s.secretId)).toEqual([
        rotated.body.secretId,
        created.body.secrets[0].secretId,
      ]);
      expect(read.body.secrets[0].expiresAt).toBeNull();
      expect(read.body.secrets[1].expiresAt).not.toBeNull();
      const listed = await h.call('GET', '/v1/controllers/acme/endpoints', { token: acmeToken });
      expect(listed.body.items.find((e: { id: string }) => e.id === id).secrets).toEqual(read.body.secrets);
      for (const body of [read.body, listed.body]) {
        expect(JSON.stringify(body)).not.toContain(created.body.secret);
        expect(JSON.stringify(body)).not.toContain(rotated.body.secret);
        expect(JSON.stringify(body)).not.toContain('whsec_');
      }

      // An immediate rotation ends the others at once: the view shows only the newest.
      const immediate = await h.call('POST', `/v1/controllers/acme/endpoints/${id}/secret/rotate`, {
        token: acmeToken,
        body: { graceSeconds: 0 },
      });
      const after = await h.call('GET', `/v1/controllers/acme/endpoints/${id}`, { token: acmeToken });
      expect(after.body.secrets.map((s: { secretId: string }) => s.secretId)).toEqual([
        immediate.body.secretId,
      ]);
    });
  });

  describe('propagation to other services', () => {
    it("a second service's view sees a new instruction version within a second", async () => {
      const views = await startViews(h);
      try {
        const held = views.controllers.get('acme');
        expect(held?.instruction?.version).toBeGreaterThanOrEqual(1);
        const published = await h.call('POST', '/v1/controllers/acme/instructions', {
          token: acmeToken,
          body: { ...instruction, storeContentAfterDispatch: true },
        });
        await eventually(1_000, () =>
          expect(views.controllers.get('acme')?.instruction?.version).toBe(published.body.version),
        );
        expect(views.controllers.get('acme')?.instruction?.ref).toBe(published.body.ref);
      } finally {
        await views.stop();
      }
    });

    it("an endpoint's secret reaches the view encrypted, and decrypts with the controller's keys", async () => {
      const views = await startViews(h);
      try {
        const created = await h.call('POST', '/v1/controllers/globex/endpoints', {
          token: globexToken,
          body: { url: 'https://hooks.example.test/view', eventTypes: ['message.queued'] },
        });
        await eventually(2_000, () => expect(views.endpoints.get(created.body.id)).toBeDefined());
        const state = views.endpoints.get(created.body.id)!;
        expect(JSON.stringify(state)).not.toContain(created.body.secret.slice(6));
        const controller = views.controllers.get('globex')!;
        const store = {
          get: async () => ({
            status: 'active' as const,
            keys: {
              dataKey: toWrappedKey(controller.keys.dataKey),
              pseudonymKey: toWrappedKey(controller.keys.pseudonymKey),
            },
          }),
          insert: async () => false,
          destroy: async () => {},
        };
        const keys = await new Keyring({ kms: new LocalKms(h.masterKey), store }).get(
          toControllerId('globex'),
        );
        const secret = state.secrets[0]!;
        expect(
          decryptField(keys.dataKey, secret.secret, {
            controllerId: toControllerId('globex'),
            recordId: created.body.id,
            field: `secret:${secret.secretId}`,
          }),
        ).toBe(created.body.secret);

        await h.call('DELETE', `/v1/controllers/globex/endpoints/${created.body.id}`, { token: globexToken });
        await eventually(2_000, () => expect(views.endpoints.get(created.body.id)).toBeUndefined());
      } finally {
        await views.stop();
      }
    });

    it('emits a processing event naming who changed what', async () => {
      const seen: unknown[] = [];
      const reader = await h.bus.readFromStart({
        topics: [topicFor('us', 'audit.processing.v1', h.topics.namespace)],
        onRecords: (records) => {
          for (const r of records) seen.push(JSON.parse(r.value!.toString()));
        },
      });
      await reader.caughtUp;
      await reader.stop();
      const events = seen.map((e) => processingEventSchema.parse(e));
      const operations = new Set(events.map((e) => e.operation));
      for (const op of [
        'controller.create',
        'token.issue',
        'instruction.publish',
        'endpoint.create',
        'endpoint.delete',
      ]) {
        expect(operations).toContain(op);
      }
      const refused = events.find((e) => e.operation === 'instruction.publish' && e.outcome === 'denied');
      expect(refused?.controllerId).toBe('globex');
      expect(events.every((e) => e.service === 'control' && e.region === 'us' && e.actor)).toBe(true);
    });
  });

  describe('operations', () => {
    it('serves health, readiness, metrics and the public subprocessor list', async () => {
      expect((await h.call('GET', '/healthz', { token: null })).status).toBe(200);
      expect((await h.call('GET', '/readyz', { token: null })).body).toEqual({ status: 'ready' });
      const metrics = await fetch(`${h.url}/metrics`).then((r) => r.text());
      expect(metrics).toContain('control_http_requests_total{route="/v1/controllers/:controllerId"');
      const subprocessors = await h.call('GET', '/v1/subprocessors', { token: null });
      expect(subprocessors.body.items.map((s: { name: string }) => s.name)).toEqual(['telnyx', 'twilio']);
    });

    it('the operator token from configuration works and is stored only as a hash', async () => {
      const { rows } = await h.db.query<{ token_sha256: string }>(
        "SELECT token_sha256 FROM control_tokens WHERE kind = 'operator'",
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.token_sha256).not.toContain(OPERATOR_TOKEN);
      expect(rows[0]!.token_sha256).toMatch(/^[a-f0-9]{64}$/);
    });
  });
});

describe('control API over TLS', () => {
  let h: ControlHarness;
  beforeAll(async () => {
    h = await startControl({ tls: true });
  });
  afterAll(() => h.close());

  const handshake = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
    new Promise<string>((resolve, reject) => {
      const { port } = new URL(h.url);
      const socket = connect(
        { host: '127.0.0.1', port: Number(port), rejectUnauthorized: false, maxVersion },
        () => {
          const protocol = socket.getProtocol() ?? 'none';
          socket.end();
          resolve(protocol);
        },
      );
      socket.on('error', reject);
    });

  it('accepts TLS 1.3', async () => {
    expect(h.url.startsWith('https://')).toBe(true);
    expect(await handshake('TLSv1.3')).toBe('TLSv1.3');
  });

  it('refuses a TLS 1.2 client', async () => {
    await expect(handshake('TLSv1.2')).rejects.toThrow(/protocol|version|alert/i);
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { messageWebhookSchema, webhookPayloadSchema } from '@massivesms/contracts';
import { eventually, freePort } from '@massivesms/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhooksSpec } from '../src/config.ts';
import { RETRY_SCHEDULE_MS } from '../src/domain/schedule.ts';
import { newSecret, startWebhooksHarness, type WebhooksHarness } from './harness.ts';

// docs/webhooks.md, held to what the service does: its Node example is taken from the guide as it
// stands (so the guide cannot drift from this test) and run as the customer would run it, against a
// real delivery of the webhooks service on real Kafka and PostgreSQL. The Python and Go examples
// cannot be run here (no Python or Go package index is reachable from the build); they use only the
// calls those Standard Webhooks libraries document, and the guide says so.

const guideUrl = new URL('../../../docs/webhooks.md', import.meta.url);
const guide = readFileSync(guideUrl, 'utf8');

/** The first fenced block of `lang` after `heading`. */
function codeBlock(heading: string, lang: string): string {
  const from = guide.indexOf(`\n${heading}\n`);
  expect(from, `${heading} in docs/webhooks.md`).toBeGreaterThan(0);
  const match = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\\n\`\`\``).exec(guide.slice(from));
  expect(match, `a ${lang} block under ${heading}`).not.toBeNull();
  return `${match![1]}\n`;
}

/** A delay as the guide writes it: `5 s`, `30 min`, `10 h`. */
const spoken = (ms: number) =>
  ms === 0
    ? 'immediately'
    : ms % 3_600_000 === 0
      ? `${ms / 3_600_000} h`
      : ms % 60_000 === 0
        ? `${ms / 60_000} min`
        : `${ms / 1000} s`;

describe('docs/webhooks.md states the service’s real numbers', () => {
  it('the retry schedule, the disable threshold and the attempt bounds are the code’s defaults', () => {
    const schedule = RETRY_SCHEDULE_MS.map(spoken).join(', ');
    expect(guide).toContain(`attempts: ${RETRY_SCHEDULE_MS.length} — ${schedule}`);
    const days = Number(webhooksSpec.WEBHOOKS_DISABLE_AFTER_MS.default) / 86_400_000;
    expect(guide).toContain(`failed continuously for ${days} days`);
    const attempt = Number(webhooksSpec.WEBHOOKS_ATTEMPT_TIMEOUT_MS.default) / 1000;
    const connect = Number(webhooksSpec.WEBHOOKS_CONNECT_TIMEOUT_MS.default) / 1000;
    expect(guide).toContain(`${connect} s to connect, ${attempt} s in all`);
    expect(guide).toContain(`Answer **2xx within ${attempt} seconds**`);
    const retryAfterHours = Number(webhooksSpec.WEBHOOKS_MAX_RETRY_AFTER_MS.default) / 3_600_000;
    expect(retryAfterHours).toBe(1);
    expect(guide).toContain('of at most one hour sets the next');
  });
});

describe('docs/webhooks.md’s sample delivery', () => {
  it('carries a signature that verifies with the sample secret over the sample body, as the service signs', () => {
    const sample = codeBlock('## What a delivery looks like', 'http');
    const [head, body] = sample.split('\n\n') as [string, string];
    const header = (name: string) => new RegExp(`^${name}: (.+)$`, 'm').exec(head)?.[1];
    const secret = /`(whsec_[A-Za-z0-9+/=]+)`/.exec(guide)?.[1];
    const key = Buffer.from(secret!.slice('whsec_'.length), 'base64');
    const content = `${header('webhook-id')}.${header('webhook-timestamp')}.${body.trimEnd()}`;
    expect(header('webhook-signature')).toBe(
      `v1,${createHmac('sha256', key).update(content).digest('base64')}`,
    );
    expect(messageWebhookSchema.safeParse(JSON.parse(body)).success).toBe(true);
  });
});

interface Seen {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  status?: number;
}

describe('the guide’s Node example verifies a real delivery (real Kafka and PostgreSQL)', () => {
  let h: WebhooksHarness;
  let example: ChildProcess;
  let exampleUrl: string;
  let proxy: Server;
  const output: string[] = [];
  const seen: Seen[] = [];
  const dir = new URL(`../../../.local/docs-webhooks-${randomUUID()}/`, import.meta.url);
  // The endpoint's two secrets during a rotation: the example holds only the old one.
  const [current, previous] = [newSecret(), newSecret()];

  /** Sends a request to the example as the webhooks service would, and answers its status. */
  const post = async (headers: IncomingHttpHeaders, body: string) => {
    const forwarded: Record<string, string> = {};
    for (const name of ['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature'])
      if (typeof headers[name] === 'string') forwarded[name] = headers[name];
    const res = await fetch(exampleUrl, { method: 'POST', headers: forwarded, body });
    await res.arrayBuffer();
    return res.status;
  };

  beforeAll(async () => {
    // Written inside the repository, so `import 'standardwebhooks'` resolves as in a customer's project.
    mkdirSync(dir, { recursive: true });
    const file = new URL('receiver.mjs', dir);
    writeFileSync(file, codeBlock('### Node', 'js'));
    const port = await freePort();
    exampleUrl = `http://127.0.0.1:${port}/massivesms`;
    example = spawn(process.execPath, [file.pathname], {
      env: { ...process.env, PORT: String(port), MASSIVESMS_WEBHOOK_SECRET: previous },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    const collect = (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      output.push(...lines);
    };
    example.stdout!.on('data', collect);
    example.stderr!.on('data', collect);
    await eventually(10_000, () => expect(output).toContain(`listening on ${port}`));

    // The registered endpoint: records what the service sent and forwards it unchanged to the example.
    proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const entry: Seen = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(entry);
      entry.status = await post(req.headers, entry.body);
      res.writeHead(entry.status).end();
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');

    h = await startWebhooksHarness({ ssrf: { allowList: ['127.0.0.1'] } });
    await h.publishController('acme');
    await h.publishEndpoint({
      endpointId: 'ep-docs',
      controllerId: 'acme',
      url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/massivesms`,
      secrets: [current, previous],
    });
  });
  afterAll(async () => {
    await h?.close();
    example?.kill();
    proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts the genuine delivery (signed with two secrets, holding the old one), processes it once, and refuses tampered copies', async () => {
    await h.publishStatus('acme', 'doc-1');
    await eventually(20_000, () => expect(seen.map((s) => s.status)).toEqual([204]));
    const [genuine] = seen as [Seen];
    const webhookId = genuine.headers['webhook-id'] as string;
    // The rotation: one `v1,` entry per valid secret.
    expect((genuine.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    // The body is what the guide's tables describe (the contract), for its event type.
    const body = JSON.parse(genuine.body);
    expect(messageWebhookSchema.parse(body)).toMatchObject({ type: 'message.delivered' });
    expect(webhookPayloadSchema('message.delivered').safeParse(body).success).toBe(true);
    await eventually(5_000, () =>
      expect(output).toContain(`${webhookId} message.delivered: message doc-1 is delivered`),
    );
    await eventually(5_000, async () =>
      expect((await h.webhooks.store.forMessage('acme', 'doc-1'))[0]).toMatchObject({
        state: 'delivered',
        attempts: 1,
      }),
    );

    // A body changed in transit: refused.
    expect(await post(genuine.headers, genuine.body.replace('doc-1', 'doc-2'))).toBe(401);
    // A signature made with another secret: refused.
    const forged = { ...genuine.headers, 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}` };
    expect(await post(forged, genuine.body)).toBe(401);
    // The genuine request replayed with another timestamp: the signature no longer matches.
    const moved = {
      ...genuine.headers,
      'webhook-timestamp': String(Number(genuine.headers['webhook-timestamp']) + 1),
    };
    expect(await post(moved, genuine.body)).toBe(401);
    expect(output.filter((l) => l.startsWith('refused: '))).toHaveLength(3);
    // A retry (same webhook-id) is answered 2xx and not processed twice.
    expect(await post(genuine.headers, genuine.body)).toBe(204);
    await new Promise((r) => setTimeout(r, 200));
    expect(output.filter((l) => l.startsWith(webhookId))).toHaveLength(1);
  });
});

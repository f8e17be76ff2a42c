// Signature checks exactly as customers write them: `new Webhook(secret).verify(body, headers)` from
// both the `standardwebhooks` and the `svix` package, once per configured secret. During a rotation
// the sender puts several signatures in `webhook-signature` and the endpoint may hold several
// secrets; one match is enough.
//
// svix 2.x wraps standardwebhooks, so the two mostly agree; they differ in which headers they read
// (svix prefers `svix-id`/`svix-timestamp`/`svix-signature` when present), which is why both are kept.

import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { ReceiverConfigError } from './behaviour.ts';

/** Whether each package accepted a delivery with at least one of the endpoint's secrets. */
export interface Verification {
  readonly standardwebhooks: boolean;
  readonly svix: boolean;
}

/** Validates a secret list: at least one `whsec_` + base64 secret that both packages accept. */
export function checkSecrets(input: unknown, where = 'secrets'): string[] {
  if (!Array.isArray(input) || input.length === 0) {
    throw new ReceiverConfigError(`${where}: expected a non-empty array of whsec_ secrets`);
  }
  return input.map((secret, i) => {
    if (typeof secret !== 'string' || !secret.startsWith('whsec_')) {
      throw new ReceiverConfigError(`${where}[${i}]: expected a string starting with whsec_`);
    }
    try {
      new StandardWebhook(secret);
      new SvixWebhook(secret);
    } catch (error) {
      throw new ReceiverConfigError(
        `${where}[${i}]: not a usable secret (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    return secret;
  });
}

/** Verifies deliveries against one endpoint's secrets with both packages. */
export class SignatureVerifier {
  readonly #standard: StandardWebhook[];
  readonly #svix: SvixWebhook[];

  /** Takes secrets already checked by `checkSecrets`. */
  constructor(secrets: readonly string[]) {
    this.#standard = secrets.map((s) => new StandardWebhook(s));
    this.#svix = secrets.map((s) => new SvixWebhook(s));
  }

  /** Checks the raw body against the request headers (all of them, as a customer passes `req.headers`). */
  verify(body: string, headers: Readonly<Record<string, string>>): Verification {
    return {
      // jsonParse off: the question is the signature; a non-JSON body is the sender's other bug.
      standardwebhooks: this.#standard.some((w) =>
        accepts(() => w.verify(body, { ...headers }, { jsonParse: false })),
      ),
      svix: this.#svix.some((w) => accepts(() => w.verify(body, { ...headers }))),
    };
  }
}

function accepts(verify: () => unknown): boolean {
  try {
    verify();
    return true;
  } catch {
    return false;
  }
}

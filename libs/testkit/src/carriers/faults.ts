// Fault injection shared by the carrier simulators. The same configuration drives the in-process
// object (`sim.faults`) and the HTTP admin endpoint (`POST /__admin/faults`), so a test and a person
// running `massivesms simulate` describe faults the same way.

/** How one send request is answered; at most one of the terminal effects may be set. */
export interface RequestFault {
  /** Wait this long before handling the request. The message is still processed if the client gave up meanwhile, as a real slow carrier would. */
  latencyMs?: number;
  /** Answer with this 5xx status. `carrierBody: false` answers like a proxy in front of the carrier (HTML, no carrier code): the ambiguous 502/504 case. */
  status5xx?: number | { status: number; carrierBody?: boolean };
  /** Answer 429 with the carrier's rate-limit error and headers. */
  rateLimit?: true | { retryAfterSeconds?: number };
  /** Destroy the socket after reading the request, with no response; `afterAccept` records the message (and sends its receipts) first. */
  reset?: true | { afterAccept?: boolean };
  /** Accept and record the message (receipts follow), then never answer. */
  timeoutAfterAccept?: true;
  /** Refuse the credentials as if the key were revoked (Telnyx 10009, Twilio 20003; HTTP 401). */
  authFailure?: true;
  /** The account's or sender's queue is full (Telnyx 40318 with HTTP 429, Twilio 21611 with HTTP 400). */
  queueFull?: true;
}

/** Synchronous per-message errors a carrier returns for one recipient. */
export type PermanentError = 'invalidNumber' | 'optedOut' | 'contentRejected';

/** What the simulator does with the receipts of a message. */
export interface ReceiptBehaviour {
  /** Post every receipt twice (same event id / same form), as carriers sometimes do. */
  duplicateReceipts?: boolean;
  /** Post the final receipt before the `sent` one. */
  outOfOrderReceipts?: boolean;
  /** Finalize as failed: Telnyx `delivery_failed`, Twilio `undelivered` (or `failed`), with the carrier's error code. */
  failDelivery?: boolean | { code?: string | number; status?: 'undelivered' | 'failed' };
  /** Wait this long before the first receipt. */
  delayMs?: number;
  /** Post no receipts at all (lost webhooks). */
  drop?: boolean;
}

/** Faults attached to one recipient number. */
export interface RecipientFault {
  /** Reject every send to this number synchronously with the carrier's permanent error. */
  error?: PermanentError;
  /** Override the carrier error code of `error` (a string for Telnyx, a number for Twilio). */
  code?: string | number;
  /** Receipt behaviour for this number, replacing the global one. */
  receipts?: ReceiptBehaviour;
}

/** The JSON accepted by `POST /__admin/faults` and `faults.configure()`; fields are applied in this order. */
export interface FaultConfig {
  /** Clear every fault (and stop refusing) before applying the rest. */
  clear?: boolean;
  /** One-shot faults for the next send requests, appended to the queue. */
  next?: RequestFault[];
  /** Fault applied to every send request while the one-shot queue is empty; null removes it. */
  always?: RequestFault | null;
  /** Per-recipient faults keyed by the `to` number; null removes one. */
  recipients?: Record<string, RecipientFault | null>;
  /** Receipt behaviour for all recipients without their own; null resets it. */
  receipts?: ReceiptBehaviour | null;
  /** Refuse connections (listening socket closed). Over HTTP `forMs` is required, since the admin endpoint is unreachable while refusing. */
  refuse?: { forMs?: number } | false;
}

/** The terminal effect of a request fault after normalisation. */
export type FaultEffect =
  | { readonly kind: 'none' }
  | { readonly kind: 'status5xx'; readonly status: number; readonly carrierBody: boolean }
  | { readonly kind: 'rateLimit'; readonly retryAfterSeconds: number }
  | { readonly kind: 'reset'; readonly afterAccept: boolean }
  | { readonly kind: 'timeoutAfterAccept' }
  | { readonly kind: 'authFailure' }
  | { readonly kind: 'queueFull' };

/** A validated request fault, as the simulators consume it. */
export interface ResolvedFault {
  readonly latencyMs: number;
  readonly effect: FaultEffect;
}

/** Thrown for a fault configuration that cannot be applied (the admin endpoint answers 400). */
export class FaultConfigError extends Error {
  override readonly name = 'FaultConfigError';
}

/** The listener switch a simulator hands to its controller, so `refuse` can close the real socket. */
export interface ConnectionSwitch {
  setRefusing(refusing: boolean): Promise<void>;
}

/** What is currently configured (answer of `GET /__admin/faults`). */
export interface FaultSnapshot {
  readonly queued: RequestFault[];
  readonly always: RequestFault | null;
  readonly recipients: Record<string, RecipientFault>;
  readonly receipts: ReceiptBehaviour;
  readonly refusing: boolean;
}

const MAX_DURATION_MS = 600_000;

/** Holds the faults of one simulator; the simulator consults it on every send request and receipt. */
export class FaultController {
  readonly #switch: ConnectionSwitch;
  #queue: { raw: RequestFault; resolved: ResolvedFault }[] = [];
  #always: { raw: RequestFault; resolved: ResolvedFault } | undefined;
  #recipients = new Map<string, RecipientFault>();
  #receipts: ReceiptBehaviour = {};
  #refusing = false;
  #refuseTimer: NodeJS.Timeout | undefined;

  /** Binds the controller to the simulator's listener. */
  constructor(connectionSwitch: ConnectionSwitch) {
    this.#switch = connectionSwitch;
  }

  /** Queues one-shot faults, consumed one per send request in order. */
  next(...faults: RequestFault[]): this {
    for (const raw of faults) this.#queue.push({ raw, resolved: resolveFault(raw, 'next') });
    return this;
  }

  /** Applies a fault to every send request while no one-shot fault is queued; null removes it. */
  always(fault: RequestFault | null): this {
    this.#always = fault === null ? undefined : { raw: fault, resolved: resolveFault(fault, 'always') };
    return this;
  }

  /** Sets (or, with null, removes) the faults for sends to one recipient number. */
  recipient(to: string, fault: RecipientFault | null): this {
    if (fault === null) this.#recipients.delete(to);
    else this.#recipients.set(to, checkRecipientFault(fault, 'recipients[<number>]'));
    return this;
  }

  /** Sets the receipt behaviour for every recipient without its own; null resets it to plain delivery. */
  receipts(behaviour: ReceiptBehaviour | null): this {
    this.#receipts = behaviour === null ? {} : checkReceipts(behaviour, 'receipts');
    return this;
  }

  /** Closes the listening socket so new connections get ECONNREFUSED (nothing sent), until `acceptConnections()` or `forMs` elapses. */
  async refuseConnections(options: { forMs?: number } = {}): Promise<void> {
    const forMs = options.forMs;
    if (forMs !== undefined) checkDuration(forMs, 'refuse.forMs');
    clearTimeout(this.#refuseTimer);
    this.#refuseTimer = undefined;
    if (!this.#refusing) {
      this.#refusing = true;
      await this.#switch.setRefusing(true);
    }
    if (forMs !== undefined) {
      this.#refuseTimer = setTimeout(() => void this.acceptConnections(), forMs);
      this.#refuseTimer.unref();
    }
  }

  /** Listens again after `refuseConnections()`. */
  async acceptConnections(): Promise<void> {
    clearTimeout(this.#refuseTimer);
    this.#refuseTimer = undefined;
    if (!this.#refusing) return;
    this.#refusing = false;
    await this.#switch.setRefusing(false);
  }

  /** Removes every fault and accepts connections again. */
  async clear(): Promise<void> {
    this.#queue = [];
    this.#always = undefined;
    this.#recipients.clear();
    this.#receipts = {};
    await this.acceptConnections();
  }

  /** Applies a JSON fault configuration (the body of `POST /__admin/faults`); validates all of it before changing anything. */
  async configure(input: unknown, options: { viaHttp?: boolean } = {}): Promise<void> {
    const config = checkConfig(input, options.viaHttp ?? false);
    if (config.clear) await this.clear();
    if (config.next) this.next(...config.next);
    if (config.always !== undefined) this.always(config.always);
    for (const [to, fault] of Object.entries(config.recipients ?? {})) this.recipient(to, fault);
    if (config.receipts !== undefined) this.receipts(config.receipts);
    if (config.refuse === false) await this.acceptConnections();
    else if (config.refuse) await this.refuseConnections(config.refuse);
  }

  /** Describes the active faults. */
  snapshot(): FaultSnapshot {
    return {
      queued: this.#queue.map((q) => q.raw),
      always: this.#always?.raw ?? null,
      recipients: Object.fromEntries(this.#recipients),
      receipts: this.#receipts,
      refusing: this.#refusing,
    };
  }

  /** For the simulators: the fault for the current send request (next queued one, else the persistent one). */
  takeRequestFault(): ResolvedFault | undefined {
    return this.#queue.shift()?.resolved ?? this.#always?.resolved;
  }

  /** For the simulators: the recipient fault for a number, if any. */
  recipientFault(to: string): RecipientFault | undefined {
    return this.#recipients.get(to);
  }

  /** For the simulators: the receipt behaviour that applies to a number. */
  receiptBehaviour(to: string): ReceiptBehaviour {
    return this.#recipients.get(to)?.receipts ?? this.#receipts;
  }

  /** For the simulators: whether connections are being refused (requests on old keep-alive sockets are cut too). */
  get refusing(): boolean {
    return this.#refusing;
  }

  /** For the simulators: stops the refuse timer at shutdown. */
  dispose(): void {
    clearTimeout(this.#refuseTimer);
    this.#refuseTimer = undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(v: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) throw new FaultConfigError(`${where}: unknown field "${key}"`);
  }
}

function checkDuration(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_DURATION_MS) {
    throw new FaultConfigError(
      `${where}: expected an integer number of milliseconds in 0..${MAX_DURATION_MS}`,
    );
  }
  return v;
}

function checkBoolean(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') throw new FaultConfigError(`${where}: expected true or false`);
  return v;
}

/** Validates a request fault and turns it into its single effect plus latency. */
function resolveFault(input: unknown, where: string): ResolvedFault {
  if (!isObject(input)) throw new FaultConfigError(`${where}: expected an object`);
  checkKeys(
    input,
    ['latencyMs', 'status5xx', 'rateLimit', 'reset', 'timeoutAfterAccept', 'authFailure', 'queueFull'],
    where,
  );
  const latencyMs = input.latencyMs === undefined ? 0 : checkDuration(input.latencyMs, `${where}.latencyMs`);
  const effects: FaultEffect[] = [];
  if (input.status5xx !== undefined) {
    const v = input.status5xx;
    const spec = typeof v === 'number' ? { status: v } : v;
    if (!isObject(spec))
      throw new FaultConfigError(`${where}.status5xx: expected a status or {status, carrierBody}`);
    checkKeys(spec, ['status', 'carrierBody'], `${where}.status5xx`);
    const status = spec.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 500 || status > 599) {
      throw new FaultConfigError(`${where}.status5xx.status: expected 500..599`);
    }
    const carrierBody =
      spec.carrierBody === undefined
        ? true
        : checkBoolean(spec.carrierBody, `${where}.status5xx.carrierBody`);
    effects.push({ kind: 'status5xx', status, carrierBody });
  }
  if (input.rateLimit !== undefined) {
    const v = input.rateLimit;
    if (v !== true && !isObject(v))
      throw new FaultConfigError(`${where}.rateLimit: expected true or an object`);
    let retryAfterSeconds = 1;
    if (isObject(v)) {
      checkKeys(v, ['retryAfterSeconds'], `${where}.rateLimit`);
      if (v.retryAfterSeconds !== undefined) {
        const s = v.retryAfterSeconds;
        if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > 3600) {
          throw new FaultConfigError(`${where}.rateLimit.retryAfterSeconds: expected 0..3600`);
        }
        retryAfterSeconds = s;
      }
    }
    effects.push({ kind: 'rateLimit', retryAfterSeconds });
  }
  if (input.reset !== undefined) {
    const v = input.reset;
    if (v !== true && !isObject(v)) throw new FaultConfigError(`${where}.reset: expected true or an object`);
    let afterAccept = false;
    if (isObject(v)) {
      checkKeys(v, ['afterAccept'], `${where}.reset`);
      if (v.afterAccept !== undefined)
        afterAccept = checkBoolean(v.afterAccept, `${where}.reset.afterAccept`);
    }
    effects.push({ kind: 'reset', afterAccept });
  }
  if (input.timeoutAfterAccept !== undefined) {
    if (input.timeoutAfterAccept !== true)
      throw new FaultConfigError(`${where}.timeoutAfterAccept: expected true`);
    effects.push({ kind: 'timeoutAfterAccept' });
  }
  for (const kind of ['authFailure', 'queueFull'] as const) {
    if (input[kind] === undefined) continue;
    if (input[kind] !== true) throw new FaultConfigError(`${where}.${kind}: expected true`);
    effects.push({ kind });
  }
  if (effects.length > 1) {
    throw new FaultConfigError(
      `${where}: status5xx, rateLimit, reset, timeoutAfterAccept, authFailure and queueFull are exclusive`,
    );
  }
  return { latencyMs, effect: effects[0] ?? { kind: 'none' } };
}

function checkReceipts(input: unknown, where: string): ReceiptBehaviour {
  if (!isObject(input)) throw new FaultConfigError(`${where}: expected an object`);
  checkKeys(input, ['duplicateReceipts', 'outOfOrderReceipts', 'failDelivery', 'delayMs', 'drop'], where);
  for (const key of ['duplicateReceipts', 'outOfOrderReceipts', 'drop'] as const) {
    if (input[key] !== undefined) checkBoolean(input[key], `${where}.${key}`);
  }
  if (input.delayMs !== undefined) checkDuration(input.delayMs, `${where}.delayMs`);
  const fail = input.failDelivery;
  if (fail !== undefined && typeof fail !== 'boolean') {
    if (!isObject(fail)) throw new FaultConfigError(`${where}.failDelivery: expected a boolean or an object`);
    checkKeys(fail, ['code', 'status'], `${where}.failDelivery`);
    if (fail.code !== undefined && typeof fail.code !== 'string' && typeof fail.code !== 'number') {
      throw new FaultConfigError(`${where}.failDelivery.code: expected a string or a number`);
    }
    if (fail.status !== undefined && fail.status !== 'undelivered' && fail.status !== 'failed') {
      throw new FaultConfigError(`${where}.failDelivery.status: expected "undelivered" or "failed"`);
    }
  }
  return input as ReceiptBehaviour;
}

function checkRecipientFault(input: unknown, where: string): RecipientFault {
  if (!isObject(input)) throw new FaultConfigError(`${where}: expected an object`);
  checkKeys(input, ['error', 'code', 'receipts'], where);
  if (
    input.error !== undefined &&
    input.error !== 'invalidNumber' &&
    input.error !== 'optedOut' &&
    input.error !== 'contentRejected'
  ) {
    throw new FaultConfigError(`${where}.error: expected invalidNumber, optedOut or contentRejected`);
  }
  if (input.code !== undefined && typeof input.code !== 'string' && typeof input.code !== 'number') {
    throw new FaultConfigError(`${where}.code: expected a string or a number`);
  }
  if (input.receipts !== undefined) checkReceipts(input.receipts, `${where}.receipts`);
  return input as RecipientFault;
}

/** Validates a whole configuration up front, so a bad field changes nothing. */
function checkConfig(input: unknown, viaHttp: boolean): FaultConfig {
  if (!isObject(input)) throw new FaultConfigError('expected a JSON object');
  checkKeys(input, ['clear', 'next', 'always', 'recipients', 'receipts', 'refuse'], 'faults');
  if (input.clear !== undefined) checkBoolean(input.clear, 'clear');
  if (input.next !== undefined) {
    if (!Array.isArray(input.next)) throw new FaultConfigError('next: expected an array');
    input.next.forEach((f, i) => {
      resolveFault(f, `next[${i}]`);
    });
  }
  if (input.always !== undefined && input.always !== null) resolveFault(input.always, 'always');
  if (input.recipients !== undefined) {
    if (!isObject(input.recipients))
      throw new FaultConfigError('recipients: expected an object keyed by number');
    for (const f of Object.values(input.recipients)) {
      if (f !== null) checkRecipientFault(f, 'recipients[<number>]');
    }
  }
  if (input.receipts !== undefined && input.receipts !== null) checkReceipts(input.receipts, 'receipts');
  if (input.refuse !== undefined && input.refuse !== false) {
    if (!isObject(input.refuse)) throw new FaultConfigError('refuse: expected {forMs} or false');
    checkKeys(input.refuse, ['forMs'], 'refuse');
    if (input.refuse.forMs !== undefined) checkDuration(input.refuse.forMs, 'refuse.forMs');
    else if (viaHttp) {
      throw new FaultConfigError(
        'refuse.forMs is required over HTTP: the admin endpoint is unreachable while refusing',
      );
    }
  }
  return input as FaultConfig;
}

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeliveryRow, PgDeliveryStore } from '../src/adapters/pg-delivery-store.ts';
import { Wakeup } from '../src/application/wakeup.ts';
import { EndpointHealthCache, startDeliveryWorker, type WorkerOptions } from '../src/application/worker.ts';

const HOUR = 3_600_000;
const options: WorkerOptions = {
  pollMs: HOUR, // nothing in these tests may wait for the poll
  perEndpointConcurrency: 1,
  perEndpointRatePerSecond: 1_000,
  maxInFlight: 10,
  attemptTimeoutMs: 1_000,
  disableAfterMs: HOUR,
};
const row = (webhookId: string): DeliveryRow => ({
  webhookId,
  endpointId: 'ep-1',
  controllerId: 'acme',
  messageId: webhookId,
  eventType: 'message.delivered',
  body: 'sealed',
  state: 'pending',
  attempts: 0,
  retryFrom: 0,
  nextAttemptAt: new Date(),
  lastError: null,
  createdAt: new Date(),
  finishedAt: null,
});

/** A worker over a queue whose leases answer as the test says; the endpoint is unknown (abandoned). */
function workerWith(lease: (call: number) => Promise<DeliveryRow[]>, overrides: Partial<WorkerOptions> = {}) {
  const leases: number[] = [];
  const store = {
    lease: () => {
      leases.push(leases.length + 1);
      return lease(leases.length);
    },
    abandon: async () => true,
    releaseLeases: async () => {},
    vacuumQueue: async () => {},
  } as unknown as PgDeliveryStore;
  const worker = startDeliveryWorker(
    {
      cell: 'us',
      namespace: '',
      store,
      sender: {} as never,
      endpoints: { get: () => undefined, ofController: () => [] },
      keys: async () => undefined,
      health: new EndpointHealthCache(),
      now: () => new Date(),
    },
    { ...options, ...overrides },
  );
  return { worker, leases };
}

describe('Wakeup', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a wake while nobody waits ends the next wait at once', async () => {
    const wakeup = new Wakeup();
    wakeup.wake();
    await wakeup.wait(HOUR); // without the memory of the wake, this waits an hour
  });

  it('clear() forgets the wakes before it: the next wait runs to its bound', async () => {
    vi.useFakeTimers();
    const wakeup = new Wakeup();
    wakeup.wake();
    wakeup.clear();
    let done = false;
    void wakeup.wait(1_000).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });
});

describe('delivery worker wake-ups', () => {
  it('a delivery stored while the worker is leasing is leased right after, not at the next poll', async () => {
    let release: () => void = () => {};
    const { worker, leases } = workerWith(async (call) => {
      if (call === 1) await new Promise<void>((resolve) => (release = resolve));
      return [];
    });
    await vi.waitFor(() => expect(leases).toHaveLength(1));
    worker.wake(); // the intake committed deliveries the running lease may not see
    release();
    await vi.waitFor(() => expect(leases).toHaveLength(2));
    await worker.stop(); // and stop() ends the hour-long wait at once
  });

  it('a slot freed on an endpoint the last lease filled is taken at once', async () => {
    const { worker, leases } = workerWith(async (call) => (call === 1 ? [row('w-1')] : []));
    // One per endpoint: the first lease fills ep-1; its delivery ends (abandoned) and frees the slot.
    await vi.waitFor(() => expect(leases).toHaveLength(2));
    await worker.stop();
  });

  it('with nothing held back, an ended delivery does not start another lease', async () => {
    vi.useFakeTimers();
    // Two per endpoint, one due: the lease took all there was.
    const { worker, leases } = workerWith(async (call) => (call === 1 ? [row('w-1')] : []), {
      perEndpointConcurrency: 2,
    });
    await vi.advanceTimersByTimeAsync(0);
    await worker.idle();
    await vi.advanceTimersByTimeAsync(HOUR - 1);
    expect(leases).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(leases).toHaveLength(2); // the bounded poll
    await worker.stop();
  });
});

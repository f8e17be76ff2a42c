import { fileURLToPath } from 'node:url';
import {
  type Cell,
  type DispatchRecord,
  decodeJsonOrThrow,
  dispatchRecordSchema,
  topicFor,
} from '@massivesms/contracts';
import { type Db, migrate } from '@massivesms/db';
import { startControllerDirectory } from '@massivesms/directory';
import type { ConsumerHandle, MessageBus } from '@massivesms/messaging';
import type { Kms } from '@massivesms/privacy';
import type { Logger } from '@massivesms/telemetry';
import { PgDispatchStore } from './adapters/pg-dispatch-store.ts';
import { type BreakerState, CarrierBreaker } from './application/carrier-breaker.ts';
import { dispatchBatch, HoldError } from './application/dispatch-batch.ts';
import type { CarrierName, CarrierPort } from './application/ports.ts';

/** Folder of the dispatcher's migrations (`massivesms migrate` applies them too). */
export const dispatcherMigrations = {
  service: 'dispatcher',
  dir: fileURLToPath(new URL('../migrations/', import.meta.url)),
};

export interface DispatcherOptions {
  readonly cell: Cell;
  readonly bus: MessageBus;
  readonly db: Db;
  readonly kms: Kms;
  readonly log: Logger;
  readonly carriers: Readonly<Record<CarrierName, CarrierPort>>;
  /** Public base URL of this dispatcher's receipt ingress (per-message callback URLs). */
  readonly publicBaseUrl: string;
  readonly namespace?: string;
  readonly now?: () => Date;
  readonly breaker?: { volumeThreshold?: number; resetTimeoutMs?: number; errorThresholdPercentage?: number };
  readonly onBreakerChange?: (carrier: CarrierName, state: BreakerState) => void;
}

/** A running dispatcher. */
export interface Dispatcher {
  readonly breakers: Readonly<Record<CarrierName, CarrierBreaker>>;
  stop(): Promise<void>;
}

/** Starts the dispatcher: migrations, the controllers view (awaited), breakers, then the consumer. */
export async function startDispatcher(options: DispatcherOptions): Promise<Dispatcher> {
  const namespace = options.namespace ?? '';
  const topic = (name: Parameters<typeof topicFor>[1]) => topicFor(options.cell, name, namespace);
  await migrate(options.db, dispatcherMigrations);
  const directory = await startControllerDirectory({
    bus: options.bus,
    cell: options.cell,
    namespace,
    kms: options.kms,
  });
  await directory.view.ready;
  const breaker = (carrier: CarrierName) =>
    new CarrierBreaker({
      carrier,
      countsAgainstBreaker: (error) =>
        (error as { countsAgainstBreaker?: boolean }).countsAgainstBreaker === true,
      ...options.breaker,
      onStateChange: (c, state) => {
        options.log.warn({ carrier: c, state }, 'carrier breaker changed state');
        options.onBreakerChange?.(c, state);
      },
    });
  const breakers = { telnyx: breaker('telnyx'), twilio: breaker('twilio') };
  const deps = {
    cell: options.cell,
    namespace,
    now: options.now ?? (() => new Date()),
    publicBaseUrl: options.publicBaseUrl,
    controllers: directory,
    store: new PgDispatchStore(options.db),
    routes: {
      telnyx: { port: options.carriers.telnyx, breaker: breakers.telnyx },
      twilio: { port: options.carriers.twilio, breaker: breakers.twilio },
    },
    producer: options.bus.producer(),
  };
  const consumer: ConsumerHandle = await options.bus.consume<DispatchRecord>({
    groupId: `dispatcher.${options.cell}`,
    topics: [topic('sms.dispatch.v1')],
    deadLetterTopic: topic('deadletter.v1'),
    decode: (record) => decodeJsonOrThrow(dispatchRecordSchema, record.value),
    handleBatch: (batch) => dispatchBatch(deps, batch.records),
    // A held partition waits with backoff (no busy loop) until a route can take its messages.
    retryBackoffMs: { initial: 250, max: 15_000 },
    maxBatchSize: 100,
    onBatchError: (error, where) => {
      const held = error instanceof HoldError;
      options.log[held ? 'info' : 'warn'](
        {
          err: held ? undefined : error,
          topic: where.topic,
          partition: where.partition,
          attempt: where.attempt,
        },
        held ? 'partition held: no carrier can take its messages now' : 'dispatch batch failed; retrying',
      );
    },
  });
  return {
    breakers,
    async stop() {
      await consumer.stop();
      await directory.view.stop();
      breakers.telnyx.shutdown();
      breakers.twilio.shutdown();
    },
  };
}

import type { IncomingRecord, MessageBus, ReaderHandle } from './port.ts';

/** An in-memory view of a compacted topic: the latest value per key; a null value deletes the key. */
export interface StateView<T> {
  get(key: string): T | undefined;
  values(): IterableIterator<T>;
  readonly size: number;
  /** Resolves once the view holds everything the topic held when it started. */
  readonly ready: Promise<void>;
  /** Called after every applied change (key, new value or undefined when deleted). */
  onChange(listener: (key: string, value: T | undefined) => void): () => void;
  /** Whether the view follows its topic (its reader is not restarting); readiness reports it. */
  consuming(): boolean;
  stop(): Promise<void>;
}

export interface StateViewOptions<T> {
  readonly bus: MessageBus;
  readonly topic: string;
  /** Decodes a value; a record it rejects is reported and skipped (the previous value stays). */
  readonly decode: (value: Buffer) => T;
  /**
   * Orders updates of one key: a value whose revision is not greater than the held one is ignored,
   * so a republished old state can never roll a view back.
   */
  readonly revision?: (value: T) => number;
  readonly onUndecodable?: (record: IncomingRecord, error: unknown) => void;
}

/** Folds a compacted topic into a live, in-memory map; start it and await `ready` before serving work. */
export async function startStateView<T>(options: StateViewOptions<T>): Promise<StateView<T>> {
  const entries = new Map<string, T>();
  const listeners = new Set<(key: string, value: T | undefined) => void>();
  const apply = (record: IncomingRecord) => {
    if (record.key === null) return;
    let next: T | undefined;
    if (record.value !== null) {
      try {
        next = options.decode(record.value);
      } catch (error) {
        options.onUndecodable?.(record, error);
        return;
      }
      const held = entries.get(record.key);
      if (held !== undefined && options.revision && options.revision(next) <= options.revision(held)) return;
      entries.set(record.key, next);
    } else if (!entries.delete(record.key)) {
      return;
    }
    for (const listener of listeners) listener(record.key, next);
  };
  const reader: ReaderHandle = await options.bus.readFromStart({
    topics: [options.topic],
    onRecords: (records) => {
      for (const record of records) apply(record);
    },
  });
  return {
    get: (key) => entries.get(key),
    values: () => entries.values(),
    get size() {
      return entries.size;
    },
    ready: reader.caughtUp,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    consuming: () => reader.consuming(),
    stop: () => reader.stop(),
  };
}

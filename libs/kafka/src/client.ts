import net from 'node:net';
import tls from 'node:tls';
import { type ISocketFactory, Kafka, type LogEntry, logLevel, type RetryOptions } from 'kafkajs';

/** Log sink for the client's own messages (kafkajs logs carry no record contents). */
export type KafkaLogSink = (
  level: 'error' | 'warn' | 'info' | 'debug',
  message: string,
  fields: object,
) => void;

const levelNames = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
  [logLevel.NOTHING]: 'debug',
} as const;

/**
 * Whether a client is in touch with the broker: it heard from it lately (a fetch, heartbeat, commit
 * or acknowledged send) and none of its connections failed since. A refused or reset connection
 * tells at once; a broker that merely stops answering shows after `stallMs`.
 */
export class BrokerContact {
  #lastContact = 0;
  #lastTrouble = 0;

  /** The broker answered a request. */
  heard(): void {
    this.#lastContact = performance.now();
  }

  /** A connection to the broker failed. */
  lost(): void {
    this.#lastTrouble = performance.now();
  }

  inTouch(stallMs: number): boolean {
    return this.#lastTrouble <= this.#lastContact && performance.now() - this.#lastContact < stallMs;
  }
}

/** kafkajs's own socket factory, plus a report of every connection that fails. */
function reportingSocketFactory(contact: BrokerContact): ISocketFactory {
  return ({ host, port, ssl, onConnect }) => {
    const socket = ssl
      ? tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
      : net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    // A refused or reset connection errors; one that timed out is destroyed without ever connecting.
    let connected = false;
    socket.once('connect', () => {
      connected = true;
    });
    socket.on('error', () => contact.lost());
    socket.on('close', () => {
      if (!connected) contact.lost();
    });
    return socket;
  };
}

/** A kafkajs client that logs through `options.log` and reports failed connections to `contact`. */
export function kafkaClient(
  options: { readonly brokers: readonly string[]; readonly clientId: string; readonly log?: KafkaLogSink },
  retry: RetryOptions,
  contact: BrokerContact,
): Kafka {
  const sink = options.log;
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.WARN,
    retry,
    socketFactory: reportingSocketFactory(contact),
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      if (sink) sink(levelNames[entry.level], message, { ...fields, namespace: entry.namespace });
      else if (entry.level <= logLevel.ERROR)
        process.stderr.write(`kafkajs ${entry.namespace}: ${message}\n`);
    },
  });
}

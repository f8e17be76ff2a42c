import net from 'node:net';
import tls from 'node:tls';
import {
  type ISocketFactory,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  type RetryOptions,
  type SASLOptions,
} from 'kafkajs';

/**
 * Where the brokers are and how a client reaches them. With `ssl`, TLS verifies the broker's
 * certificate against `ca` (else Node's public CAs) and the broker's host name; with `sasl` as well,
 * the client logs in with SCRAM (Kafka's SASL_SSL). Neither: plaintext (loopback development only).
 */
export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly ssl?: { readonly ca?: readonly string[] };
  readonly sasl?: {
    readonly mechanism: 'scram-sha-256' | 'scram-sha-512';
    readonly username: string;
    readonly password: string;
  };
}

/** The kafkajs `ssl` and `sasl` settings of a connection (verification always on). */
export function securityConfig(connection: KafkaConnection): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const { ssl, sasl } = connection;
  if (sasl !== undefined && ssl === undefined) {
    // SASL_PLAINTEXT: records (and, with PLAIN, the password) would cross the network in clear.
    throw new TypeError('Kafka SASL needs TLS: set ssl as well');
  }
  return {
    ...(ssl === undefined
      ? {}
      : { ssl: { rejectUnauthorized: true, ...(ssl.ca === undefined ? {} : { ca: [...ssl.ca] }) } }),
    // The union of mechanisms does not narrow to kafkajs's per-mechanism types.
    ...(sasl === undefined ? {} : { sasl: { ...sasl } as SASLOptions }),
  };
}

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
  options: KafkaConnection & { readonly clientId: string; readonly log?: KafkaLogSink },
  retry: RetryOptions,
  contact: BrokerContact,
): Kafka {
  const sink = options.log;
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    ...securityConfig(options),
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

import type { TopicSpec } from '@massivesms/contracts';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { type KafkaConnection, securityConfig } from './client.ts';

/** Brokers alone (plaintext, local development) or a secured connection. */
export type BrokersOrConnection = readonly string[] | KafkaConnection;

function connectionOf(target: BrokersOrConnection): KafkaConnection {
  return 'brokers' in target ? target : { brokers: target as readonly string[] };
}

/** Result of provisioning: what was created and what already existed. */
export interface EnsureTopicsResult {
  readonly created: string[];
  readonly existing: string[];
}

/** Thrown when the broker does not answer the admin API in time. */
export class BrokerUnavailableError extends Error {
  override readonly name = 'BrokerUnavailableError';
  readonly code = 'KAFKA_BROKER_UNAVAILABLE';
  readonly brokers: readonly string[];
  constructor(brokers: readonly string[], options?: ErrorOptions) {
    super(`Kafka broker ${brokers.join(',')} did not answer the admin API`, options);
    this.brokers = brokers;
  }
}

function adminClient(connection: KafkaConnection) {
  return new Kafka({
    clientId: 'massivesms-admin',
    brokers: [...connection.brokers],
    ...securityConfig(connection),
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1_000,
  }).admin();
}

/**
 * Polls the admin API until the broker reports a controller and itself, or the deadline passes;
 * a refused SASL login ends it at once.
 */
export async function waitForBroker(
  target: BrokersOrConnection,
  timeoutMs = 60_000,
): Promise<{ clusterId: string }> {
  const connection = connectionOf(target);
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const admin = adminClient(connection);
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return { clusterId: cluster.clusterId };
    } catch (error) {
      last = error;
      // Refused credentials stay refused (the password is read once, at start): no point waiting.
      if (error instanceof Error && error.name === 'KafkaJSSASLAuthenticationError') break;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new BrokerUnavailableError(connection.brokers, { cause: last });
}

/** Creates the declared topics that do not exist yet (idempotent); replication 1 suits the local broker. */
export async function ensureTopics(
  brokers: BrokersOrConnection,
  topics: ReadonlyArray<TopicSpec & { readonly fullName: string }>,
  options: { replicationFactor?: number } = {},
): Promise<EnsureTopicsResult> {
  return withAdmin(brokers, async (admin) => {
    const present = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !present.has(t.fullName));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: false, // kafkajs gives up on a transient "unknown topic" right after creation
        topics: missing.map((t) => ({
          topic: t.fullName,
          numPartitions: t.partitions,
          replicationFactor: options.replicationFactor ?? 1,
          configEntries: [
            { name: 'cleanup.policy', value: t.cleanupPolicy },
            ...(t.retentionMs === null ? [] : [{ name: 'retention.ms', value: String(t.retentionMs) }]),
          ],
        })),
      });
    }
    await waitForLeaders(
      admin,
      missing.map((t) => t.fullName),
    );
    return {
      created: missing.map((t) => t.fullName),
      existing: topics.filter((t) => present.has(t.fullName)).map((t) => t.fullName),
    };
  });
}

/** Polls until every partition of the topics has a leader that serves it (new topics take a moment). */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  if (topics.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
      if (metadata.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
        // Metadata can name a leader before that broker serves the partition; ListOffsets goes to
        // the leader itself, so once it answers for every partition, produce requests will too.
        for (const topic of topics) await admin.fetchTopicOffsets(topic);
        return;
      }
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(`topics without leaders after ${timeoutMs} ms: ${topics.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Deletes topics (tests clean up their own namespace with it). */
export async function deleteTopics(brokers: BrokersOrConnection, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await withAdmin(brokers, (admin) => admin.deleteTopics({ topics: [...names] }));
}

/** Runs `fn` with a connected admin client, disconnecting whatever happens. */
async function withAdmin<T>(target: BrokersOrConnection, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const connection = connectionOf(target);
  const admin = new Kafka({
    clientId: 'massivesms-admin',
    brokers: [...connection.brokers],
    ...securityConfig(connection),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

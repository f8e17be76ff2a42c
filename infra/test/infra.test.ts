import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cells, topicTable } from '@massivesms/contracts';
import { createTestTopics } from '@massivesms/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { KAFKA_VERSION, postgresVersion, startThrowawayCluster, stopThrowawayCluster } from '../src/index.ts';
import { provisionTopics } from '../src/infra.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const kcatAvailable = await run('sh', ['-c', 'command -v kcat']).then(
  () => true,
  () => false,
);

describe('local Kafka', () => {
  it('pins one Kafka version in code and in the Maven pom', () => {
    const pom = readFileSync(join(repoRoot, 'infra/kafka/pom.xml'), 'utf8');
    expect(pom).toContain(`<kafka.version>${KAFKA_VERSION}</kafka.version>`);
  });

  it('provisions every declared topic of both cells idempotently', async () => {
    const topics = createTestTopics();
    const first = await provisionTopics(topics.brokers.join(','), topics.namespace);
    const second = await provisionTopics(topics.brokers.join(','), topics.namespace);
    expect(first.created).toHaveLength(topicTable.length * cells.length);
    expect(second.created).toEqual([]);
    expect(second.existing.sort()).toEqual(first.created.sort());
    await import('@massivesms/kafka').then((k) => k.deleteTopics(topics.brokers, first.created));
  });

  // kcat is an independent client (librdkafka): it proves the broker and topics are real Kafka.
  // CI installs it (.ci/run); on a workstation without it this one check is not run.
  it.runIf(kcatAvailable || process.env.CI === 'true')(
    'kcat lists the provisioned topics with their partitions and the compaction policy',
    async () => {
      const topics = createTestTopics();
      await topics.provisionCell('us');
      await topics.provisionCell('eu');
      const { stdout } = await run('kcat', ['-L', '-b', topics.brokers.join(','), '-J']);
      const metadata = JSON.parse(stdout) as { topics: { topic: string; partitions: unknown[] }[] };
      const names = metadata.topics.map((t) => t.topic).filter((t) => t.startsWith(`${topics.namespace}.`));
      expect(names.sort()).toEqual(
        cells.flatMap((cell) => topicTable.map((t) => `${topics.namespace}.${cell}.${t.name}`)).sort(),
      );
      const { stdout: config } = await run('kcat', [
        '-b',
        topics.brokers.join(','),
        '-L',
        '-t',
        `${topics.namespace}.eu.suppressions.v1`,
      ]);
      expect(config).toContain('3 partitions');
      await topics.cleanup();
    },
  );
});

describe('local PostgreSQL', () => {
  it('starts a throwaway cluster from the installed binaries when no server answers, and stops it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'massivesms-pg-'));
    try {
      const cluster = await startThrowawayCluster(dir);
      expect(cluster.source).toBe('throwaway-cluster');
      expect(cluster.started).toBe(true);
      const client = new pg.Client({ connectionString: cluster.serverUrl });
      await client.connect();
      const { rows } = await client.query<{ n: number }>('SELECT 40 + 2 AS n');
      await client.end();
      expect(rows[0]?.n).toBe(42);

      const again = await startThrowawayCluster(dir);
      expect(again.started).toBe(false); // idempotent: the running cluster is reused
      expect(again.serverUrl).toBe(cluster.serverUrl);

      expect(await stopThrowawayCluster(dir)).toBe(true);
      expect(await postgresVersion(cluster.serverUrl, 1_000)).toBeUndefined();
    } finally {
      await stopThrowawayCluster(dir).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run infra:up', () => {
  it('prints KAFKA_BROKERS and DATABASE_URL lines that point at answering servers', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'infra:up'], { cwd: repoRoot });
    const vars = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    );
    expect(vars.KAFKA_BROKERS).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await postgresVersion(vars.DATABASE_URL)).toMatch(/^\d+/);
  });

  it('refuses a bad setting before touching anything, naming the variable', async () => {
    const failure = await run('npm', ['run', '--silent', 'infra:up'], {
      cwd: repoRoot,
      env: { ...process.env, MASSIVESMS_KAFKA_PORT: 'ninety', KAFKA_BROKERS: 'no-port-here' },
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('MASSIVESMS_KAFKA_PORT');
    expect(failure?.stderr).toContain('KAFKA_BROKERS');
  });
});

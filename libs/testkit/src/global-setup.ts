import { loadInfraSettings, testInfraUp } from '@massivesms/infra';
import type { TestProject } from 'vitest/node';
import './provided-context.ts';

/**
 * Runs once per `npm test`: brings up a real Kafka broker and PostgreSQL server (containers where a
 * Docker engine answers, else the jars and the local server, reusing running ones), prints the choice
 * and what is in use, and stops at the end only what it started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = performance.now();
  const settings = loadInfraSettings();
  const infra = await testInfraUp(settings, 'massivesms_test');
  console.log(
    `[testkit] ${infra.choice.mode === 'containers' ? 'testcontainers' : 'jars and local server'} (${infra.choice.reason}): Apache Kafka ${infra.kafkaVersion} at ${infra.kafkaBrokers}${infra.started.kafka ? ' (started for this run)' : ''}; ` +
      `PostgreSQL ${infra.postgresVersion} (${infra.postgresSource}); ready in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  project.provide('kafkaBrokers', infra.kafkaBrokers);
  project.provide('databaseUrl', infra.databaseUrl);
  return () => infra.stop();
}

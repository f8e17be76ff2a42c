import { z } from 'zod';
import { listenPortSchema } from './common.ts';
import { defineConfig } from './spec.ts';

/**
 * Variables of the local-infrastructure commands (`npm run infra:up|infra:down|topics` and the test
 * harness). Development only. They also honour `KAFKA_BROKERS` and `DATABASE_URL` when set (then
 * nothing is started): see infra/src/settings.ts.
 */
export const localInfraSpec = defineConfig({
  MASSIVESMS_KAFKA_PORT: {
    schema: listenPortSchema().refine((port) => port > 0 && port < 65_535, {
      error: 'must be from 1 to 65534 (the controller listens on the next port)',
    }),
    default: '19092',
    description:
      'Dev only: port of the local Kafka broker that `npm run infra:up` and `npm test` start (its KRaft controller uses the next port). Ignored when `KAFKA_BROKERS` is set.',
  },
  MASSIVESMS_TEST_INFRA: {
    schema: z.enum(['auto', 'containers', 'local'], { error: 'must be one of: auto, containers, local' }),
    default: 'auto',
    description:
      "Dev only: what `npm test` runs Kafka and PostgreSQL on. `auto`: containers (testcontainers: `apache/kafka` of the jars' version, `postgres:15`) when a Docker engine is reachable, else the Kafka jars and the local server; `containers` or `local` force one (`containers` fails without an engine). `KAFKA_BROKERS` and `DATABASE_URL`, when set, are used either way. The first line of the run names the choice.",
  },
  MASSIVESMS_STATE_DIR: {
    schema: z.string().min(1).optional(),
    description:
      'Dev only: folder for local infrastructure state (broker jars, data and log, throwaway PostgreSQL cluster). Default `.local/infra` in the repository.',
  },
  MAVEN_REPO_LOCAL: {
    schema: z.string().min(1).optional(),
    description:
      'Dev only: Maven repository that caches the Kafka jars downloaded from Maven Central. Default `~/.m2/repository`.',
  },
});

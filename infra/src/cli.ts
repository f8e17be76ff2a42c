// `npm run infra:up | infra:down | topics`. Output lines `NAME=value` can be sourced by a shell.
import { infraDown, infraUp, provisionTopics } from './infra.ts';
import { loadInfraSettings } from './settings.ts';

const command = process.argv[2];
const settings = loadInfraSettings();
const started = performance.now();
const seconds = () => ((performance.now() - started) / 1000).toFixed(1);

try {
  if (command === 'up') {
    const infra = await infraUp(settings);
    const topics = await provisionTopics(infra.kafkaBrokers);
    console.error(
      `# kafka ${infra.kafkaVersion}${infra.started.kafka ? ' (started)' : ' (already running)'}, ` +
        `postgres ${infra.postgresVersion} (${infra.postgresSource}), ` +
        `topics: ${topics.created.length} created, ${topics.existing.length} existing, in ${seconds()} s`,
    );
    console.log(`KAFKA_BROKERS=${infra.kafkaBrokers}`);
    console.log(`DATABASE_URL=${infra.databaseUrl}`);
  } else if (command === 'down') {
    const stopped = await infraDown(settings);
    console.error(
      `# stopped: kafka ${stopped.kafka ? 'yes' : 'not running'}, throwaway postgres ${stopped.postgres ? 'yes' : 'not running'}`,
    );
  } else if (command === 'topics') {
    const brokers = settings.externalKafkaBrokers?.join(',') ?? `127.0.0.1:${settings.kafkaPort}`;
    const topics = await provisionTopics(brokers);
    console.error(`# ${topics.created.length} created, ${topics.existing.length} already existed`);
    for (const t of topics.created) console.log(`created ${t}`);
  } else {
    console.error('usage: node infra/src/cli.ts up|down|topics');
    process.exit(2);
  }
} catch (error) {
  console.error(`infra ${command}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

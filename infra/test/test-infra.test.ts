// The choice between testcontainers and the jars/local server, and the container configuration.
// This machine has no Docker engine, so the container path itself is not started here: these tests
// cover the decision, the probe's refusal, and the configuration the containers would get.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localInfraSpec, parseConfig } from '@massivesms/config';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  chooseTestInfra,
  dockerCandidates,
  KAFKA_IMAGE,
  KAFKA_VERSION,
  kafkaContainerEnvironment,
  kafkaPropertyEnvName,
  loadInfraSettings,
  NoDockerEngineError,
  probeDocker,
  saslSslProperties,
} from '../src/index.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const template = readFileSync(join(repoRoot, 'infra/kafka/server.properties.template'), 'utf8');
const up = { reachable: true, detail: 'unix:///var/run/docker.sock' };
const down = { reachable: false, detail: 'no DOCKER_HOST' };

describe('test infrastructure choice', () => {
  it('takes containers exactly when a Docker engine answers, unless told otherwise', () => {
    expect(chooseTestInfra('auto', up)).toEqual({
      mode: 'containers',
      reason: `Docker engine at ${up.detail}`,
    });
    expect(chooseTestInfra('auto', down)).toEqual({
      mode: 'local',
      reason: 'no Docker engine reachable: no DOCKER_HOST',
    });
    expect(chooseTestInfra('local', up)).toEqual({ mode: 'local', reason: 'MASSIVESMS_TEST_INFRA=local' });
    expect(chooseTestInfra('containers', up).mode).toBe('containers');
  });

  it('fails when containers are asked for and no engine answers, rather than quietly using the jars', () => {
    expect(() => chooseTestInfra('containers', down)).toThrow(NoDockerEngineError);
    expect(() => chooseTestInfra('containers', down)).toThrow(
      'no Docker engine is reachable (no DOCKER_HOST)',
    );
  });

  it('reads MASSIVESMS_TEST_INFRA, auto by default', () => {
    expect(loadInfraSettings({}).testInfra).toBe('auto');
    expect(loadInfraSettings({ MASSIVESMS_TEST_INFRA: 'containers' }).testInfra).toBe('containers');
    expect(() => parseConfig(localInfraSpec, { MASSIVESMS_TEST_INFRA: 'docker' })).toThrow(
      'must be one of: auto, containers, local',
    );
  });
});

describe('Docker engine probe', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('looks where testcontainers looks', () => {
    const none = () => false;
    expect(dockerCandidates({}, none, '/home/u', 1000)).toEqual([]);
    expect(dockerCandidates({ DOCKER_HOST: 'tcp://10.0.0.2:2375' }, none, '/home/u', 1000)).toEqual([
      'DOCKER_HOST=tcp://10.0.0.2:2375',
    ]);
    const present = new Set([
      '/var/run/docker.sock',
      '/run/user/1000/docker.sock',
      '/home/u/.testcontainers.properties',
    ]);
    expect(dockerCandidates({}, (p) => present.has(p), '/home/u', 1000)).toEqual([
      '/home/u/.testcontainers.properties',
      '/var/run/docker.sock',
      '/run/user/1000/docker.sock',
    ]);
  });

  it('reports an engine that does not answer as unreachable, within its bound', async () => {
    // A port that refuses connections: DOCKER_HOST points at nothing.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    vi.stubEnv('DOCKER_HOST', `tcp://127.0.0.1:${port}`);
    const started = performance.now();
    const probe = await probeDocker(process.env, 5_000);
    expect(probe.reachable).toBe(false);
    expect(probe.detail).toContain(`DOCKER_HOST=tcp://127.0.0.1:${port}`);
    expect(performance.now() - started).toBeLessThan(6_000);
  });
});

describe('Kafka container configuration', () => {
  it('runs the Apache Kafka image of the jars’ version', () => {
    expect(KAFKA_IMAGE).toBe(`apache/kafka:${KAFKA_VERSION}`);
  });

  it('names properties as the apache/kafka image expects (. → _, _ → __, - → ___)', () => {
    expect(kafkaPropertyEnvName('listener.security.protocol.map')).toBe(
      'KAFKA_LISTENER_SECURITY_PROTOCOL_MAP',
    );
    expect(kafkaPropertyEnvName('a_b-c.d')).toBe('KAFKA_A__B___C_D');
  });

  it('carries every setting of the jars’ template, listening in the container and advertising the mapped port', () => {
    const env = kafkaContainerEnvironment(template, 'docker-host:40123');
    const properties = template
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.slice(0, l.indexOf('=')));
    expect(Object.keys(env).sort()).toEqual(properties.map(kafkaPropertyEnvName).sort());
    expect(env).toMatchObject({
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_NODE_ID: '1',
      KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093',
      KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://docker-host:40123',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@127.0.0.1:9093',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_LOG_DIRS: '/tmp/kraft-combined-logs',
    });
    expect(Object.values(env).join(' ')).not.toContain('@PORT@');
  });
});

describe('SASL_SSL listener of a private broker', () => {
  it('adds the listener beside the plaintext ones and enables SCRAM-SHA-512 only', () => {
    const rendered = saslSslProperties(
      template.replaceAll('@PORT@', '20000').replaceAll('@CONTROLLER_PORT@', '20001'),
      { port: 20002, keystoreFile: '/k.p12', keystorePassword: 'pw', scramUsers: [] },
    );
    expect(rendered).toContain(
      'listeners=PLAINTEXT://127.0.0.1:20000,CONTROLLER://127.0.0.1:20001,SASL_SSL://127.0.0.1:20002',
    );
    expect(rendered).toContain('advertised.listeners=PLAINTEXT://127.0.0.1:20000,SASL_SSL://127.0.0.1:20002');
    expect(rendered).toContain(
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
    );
    expect(rendered).toContain('sasl.enabled.mechanisms=SCRAM-SHA-512\n');
    expect(rendered).toContain('ssl.keystore.location=/k.p12');
  });
});

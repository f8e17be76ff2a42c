import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { type Cell, cells, consumerGroup, type TopicName, topicFor, topicTable } from '@massivesms/contracts';
import { regionHosts } from '@massivesms/dispatcher/config';
import { DockerfileParser } from 'dockerfile-ast';
import * as apps from 'kubernetes-models/apps/v1';
import * as batch from 'kubernetes-models/batch/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as core from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The production image and the Kubernetes manifests of both cells, checked offline: the overlays are
// rendered with `kubectl kustomize`, every object is validated against its Kubernetes or KEDA model
// (types) and against the fields that model knows (kubernetes-models does not reject unknown ones),
// then the deployment rules are asserted: probes, resources, security context, scaling, network
// policies, documented variables, Secrets by name only, and no address of one cell in the other.

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML, checked here
type K8sObject = Record<string, any>;

/** What each autoscaled service consumes (the topic its main consumer group reads). */
const scaledServices: Readonly<Record<string, TopicName>> = {
  router: 'sms.requested.v1',
  dispatcher: 'sms.dispatch.v1',
  webhooks: 'sms.status.v1',
};
const services = ['router', 'dispatcher', 'webhooks', 'control', 'audit'] as const;
/** Variables Node itself reads (not the application's configuration), allowed beside the documented ones. */
const nodeRuntimeVariables = new Set(['NODE_OPTIONS']);

function render(cell: Cell): K8sObject[] {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', `${root}k8s/overlays/${cell}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as { code?: string; stderr?: string; message: string };
    throw new Error(
      e.code === 'ENOENT'
        ? 'kubectl is not installed: the manifests are rendered with `kubectl kustomize` (k8s/README.md)'
        : `kubectl kustomize k8s/overlays/${cell} failed: ${e.stderr ?? e.message}`,
    );
  }
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS() as K8sObject;
  });
}

// --- validation against the models -----------------------------------------------------------------

interface Validatable {
  prototype: { validate(): void };
}
const models: Readonly<Record<string, Validatable>> = {
  'v1/Namespace': core.Namespace,
  'v1/ServiceAccount': core.ServiceAccount,
  'v1/ConfigMap': core.ConfigMap,
  'v1/Service': core.Service,
  'apps/v1/Deployment': apps.Deployment,
  'batch/v1/Job': batch.Job,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': networking.NetworkPolicy,
  'keda.sh/v1alpha1/ScaledObject': keda.ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': keda.TriggerAuthentication,
};

/**
 * Problems of one object: the model's validation errors (wrong types, missing required fields) and
 * every field the model's schema does not know. The models' validators are generated code that reads
 * each known property of each object they check; validating through proxies that record those reads
 * leaves, for each object, the keys the schema never looked at: fields a real API server would drop
 * or refuse (a misspelt `readinesProbe` too). Maps (labels, ConfigMap data, trigger metadata) are
 * enumerated by their validators, so their keys count as read.
 */
function modelProblems(object: K8sObject): string[] {
  const model = models[`${object.apiVersion}/${object.kind}`];
  if (!model) return [`no model for ${object.apiVersion} ${object.kind}: add it to the test's table`];
  const accessed = new WeakMap<object, Set<PropertyKey>>();
  const proxies = new WeakMap<object, object>();
  const wrap = <T>(value: T): T => {
    if (value === null || typeof value !== 'object') return value;
    const target = value as object;
    const known = proxies.get(target);
    if (known) return known as T;
    accessed.set(target, new Set());
    const proxy = new Proxy(target, {
      get(t, key, receiver) {
        accessed.get(t)?.add(key);
        return wrap(Reflect.get(t, key, receiver));
      },
      ownKeys(t) {
        for (const key of Reflect.ownKeys(t)) accessed.get(t)?.add(key);
        return Reflect.ownKeys(t);
      },
    });
    proxies.set(target, proxy);
    return proxy as T;
  };
  const problems: string[] = [];
  const clone = structuredClone(object);
  try {
    model.prototype.validate.call(wrap(clone));
  } catch (error) {
    const details = (error as { errors?: { instancePath: string; message?: string; keyword: string }[] })
      .errors;
    problems.push(
      ...(details?.map((d) => `${d.instancePath || '/'}: ${d.message ?? d.keyword}`) ?? [
        (error as Error).message,
      ]),
    );
  }
  // Every key of every object the validator was given, against the keys it read there.
  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        walk(item, `${path}/${i}`);
      });
      return;
    }
    const seen = accessed.get(value);
    for (const [key, child] of Object.entries(value)) {
      if (!seen?.has(key)) problems.push(`${path}/${key}: unknown field`);
      else walk(child, `${path}/${key}`);
    }
  };
  walk(clone, '');
  return problems;
}

// --- helpers over the rendered objects --------------------------------------------------------------

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
function named(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}
/** The rendered ConfigMap a reference names (kustomize appends a content hash to generated names). */
function configMap(objects: K8sObject[], name: string): K8sObject {
  const found = byKind(objects, 'ConfigMap').find(
    (c) => c.metadata.name === name || new RegExp(`^${name}-[a-z0-9]{10}$`).test(c.metadata.name),
  );
  if (!found) throw new Error(`ConfigMap ${name} is referenced but not rendered`);
  return found;
}
/** Workloads (Deployments and the Job) with their pod spec. */
const workloads = (objects: K8sObject[]) =>
  objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job');
/** Every variable a container receives: its env names and the keys of the ConfigMaps it loads. */
function containerEnv(objects: K8sObject[], container: K8sObject): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const from of container.envFrom ?? []) {
    if (!from.configMapRef)
      throw new Error(`${container.name}: envFrom must name a ConfigMap (Secrets by key)`);
    for (const [key, value] of Object.entries(configMap(objects, from.configMapRef.name).data ?? {}))
      env.set(key, value as string);
  }
  for (const e of container.env ?? []) env.set(e.name, e.value);
  return env;
}
/** Does a label selector (matchLabels, matchExpressions with In) select these labels? */
function selects(selector: K8sObject, labels: Record<string, string>): boolean {
  const matchLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const expressions = (selector.matchExpressions ?? []).every((e: K8sObject) => {
    if (e.operator !== 'In') throw new Error(`selector operator ${e.operator} not handled by the test`);
    return e.values.includes(labels[e.key]);
  });
  return matchLabels && expressions;
}
const documentedVariables = new Set(
  [...read('docs/configuration.md').matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1] as string),
);
/** Secret name → keys, from the table in k8s/README.md. */
const documentedSecretKeys = (() => {
  const keys = new Map<string, Set<string>>();
  for (const m of read('k8s/README.md').matchAll(/^\| `(massivesms-[a-z0-9-]+)`\s*\|([^|]+)\|/gm)) {
    const names = [...(m[2] as string).matchAll(/`([^`]+)`/g)].map((k) => k[1] as string);
    keys.set(m[1] as string, new Set(names));
  }
  return keys;
})();
const hostOf = (url: string) => new URL(url).host;

// --- the tests --------------------------------------------------------------------------------------

describe('the model check', () => {
  const deployment = () => structuredClone(render('us').find((o) => o.kind === 'Deployment') as K8sObject);
  it('rejects a wrong type and an unknown field (so a clean result means something)', () => {
    const wrongType = deployment();
    wrongType.spec.template.spec.terminationGracePeriodSeconds = '30';
    expect(modelProblems(wrongType).join('\n')).toContain(
      '/spec/template/spec/terminationGracePeriodSeconds',
    );
    const misspelt = deployment();
    const container = misspelt.spec.template.spec.containers[0];
    container.readinesProbe = container.readinessProbe;
    expect(modelProblems(misspelt)).toEqual([
      '/spec/template/spec/containers/0/readinesProbe: unknown field',
    ]);
    const scaled = structuredClone(render('us').find((o) => o.kind === 'ScaledObject') as K8sObject);
    scaled.spec.triggers[0].metadata.lagThreshold = 50;
    scaled.spec.minReplicas = 2;
    const problems = modelProblems(scaled);
    expect(problems.join('\n')).toContain('/spec/triggers/0/metadata/lagThreshold');
    expect(problems).toContain('/spec/minReplicas: unknown field');
  });
});

describe.each(cells)('k8s/overlays/%s', (cell) => {
  let objects: K8sObject[] = [];
  let other: string;
  beforeAll(() => {
    objects = render(cell);
    other = execFileSync('kubectl', ['kustomize', `${root}k8s/overlays/${cell === 'us' ? 'eu' : 'us'}`], {
      encoding: 'utf8',
    });
  });

  it('renders objects that all validate against their Kubernetes or KEDA model, with no unknown field', () => {
    expect(objects.length).toBeGreaterThan(20);
    const problems = objects.flatMap((o) =>
      modelProblems(o).map((p) => `${o.kind}/${o.metadata?.name}${p.startsWith('/') ? '' : ': '}${p}`),
    );
    expect(problems).toEqual([]);
  });

  it('puts everything in the cell namespace, labelled with the cell', () => {
    for (const o of objects) {
      if (o.kind !== 'Namespace')
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(`massivesms-${cell}`);
      expect(o.metadata.labels?.['massivesms.io/cell'], `${o.kind}/${o.metadata.name}`).toBe(cell);
    }
    const namespace = named(objects, 'Namespace', `massivesms-${cell}`);
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('runs one Deployment per service, each with probes, resources and a read-only non-root security context', () => {
    expect(
      byKind(objects, 'Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual([...services].sort());
    const cellConfig = configMap(objects, 'massivesms-cell').data;
    for (const service of services) {
      const deployment = named(objects, 'Deployment', service);
      const spec = deployment.spec.template.spec;
      const [container, ...others] = spec.containers;
      const at = `Deployment/${service}`;
      expect(others, at).toEqual([]);
      expect(container.args, at).toEqual([service]);
      expect(container.image, at).toMatch(/^registry\.massivesms\.example\/massivesms:\d+\.\d+\.\d+$/);
      // Probes: liveness on /healthz (no dependency checks), readiness on /readyz, a startup probe.
      const port = container.ports.find((p: K8sObject) => p.containerPort === Number(cellConfig.HTTP_PORT));
      expect(port, `${at}: a port named for HTTP_PORT`).toBeDefined();
      for (const [probe, path] of [
        ['startupProbe', '/healthz'],
        ['livenessProbe', '/healthz'],
        ['readinessProbe', '/readyz'],
      ] as const) {
        expect(container[probe]?.httpGet?.path, `${at} ${probe}`).toBe(path);
        expect(container[probe].httpGet.port, `${at} ${probe}`).toBe(port.name);
      }
      // Resources: CPU and memory requested, memory limited, no CPU limit (throttling hurts latency);
      // the V8 heap capped below the memory limit.
      const { requests, limits } = container.resources;
      expect(requests.cpu, at).toBeDefined();
      expect(requests.memory, at).toBe(limits.memory);
      expect(limits.cpu, at).toBeUndefined();
      const limitMiB = Number(/^(\d+)Mi$/.exec(limits.memory)?.[1]);
      const env = containerEnv(objects, container);
      const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(env.get('NODE_OPTIONS') ?? '')?.[1]);
      expect(heapMiB, `${at}: --max-old-space-size in NODE_OPTIONS`).toBeGreaterThan(0);
      expect(heapMiB / limitMiB, at).toBeLessThanOrEqual(0.8);
      // Security: non-root, read-only root filesystem, no privilege escalation, no capabilities,
      // the runtime's seccomp profile, no service account token; /tmp the only writable place.
      expect(spec.securityContext, at).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(spec.securityContext.runAsUser, at).toBeGreaterThan(0);
      expect(container.securityContext, at).toEqual({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(spec.automountServiceAccountToken, at).toBe(false);
      const tmp = container.volumeMounts.find((m: K8sObject) => m.mountPath === '/tmp');
      expect(
        spec.volumes.find((v: K8sObject) => v.name === tmp?.name)?.emptyDir,
        `${at}: /tmp`,
      ).toBeDefined();
      for (const mount of container.volumeMounts) {
        if (mount.mountPath !== '/tmp') expect(mount.readOnly, `${at} ${mount.mountPath}`).toBe(true);
      }
      // Rollout and shutdown: never below the current count; the drain fits the grace period.
      expect(deployment.spec.strategy.rollingUpdate, at).toEqual({ maxUnavailable: 0, maxSurge: 1 });
      const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const drainMs = Number(env.get('SHUTDOWN_TIMEOUT_MS') ?? 10_000);
      expect(preStop * 1000 + drainMs, at).toBeLessThan(spec.terminationGracePeriodSeconds * 1000);
      // Spread over zones and hosts.
      const keys = spec.topologySpreadConstraints.map((c: K8sObject) => c.topologyKey);
      expect(keys, at).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
      for (const c of spec.topologySpreadConstraints)
        expect(selects(c.labelSelector, deployment.spec.template.metadata.labels), at).toBe(true);
      // A PodDisruptionBudget and a Service that select its pods.
      const pdb = named(objects, 'PodDisruptionBudget', service);
      expect(pdb.spec.maxUnavailable, at).toBe(1);
      expect(selects(pdb.spec.selector, deployment.spec.template.metadata.labels), at).toBe(true);
      const svc = named(objects, 'Service', service);
      expect(selects({ matchLabels: svc.spec.selector }, deployment.spec.template.metadata.labels), at).toBe(
        true,
      );
      expect(
        svc.spec.ports.map((p: K8sObject) => p.targetPort),
        at,
      ).toEqual([port.name]);
    }
  });

  it('scales router, dispatcher and webhooks with KEDA on their consumer group lag', () => {
    expect(
      byKind(objects, 'ScaledObject')
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual(Object.keys(scaledServices).sort());
    const brokers = configMap(objects, 'massivesms-cell').data.KAFKA_BROKERS;
    const auth = named(objects, 'TriggerAuthentication', 'massivesms-kafka');
    expect(auth.spec.secretTargetRef.map((r: K8sObject) => r.parameter).sort()).toEqual([
      'ca',
      'password',
      'username',
    ]);
    // The kafka scaler's parameters (keda.sh/docs/scalers/apache-kafka); all strings.
    const kafkaParameters = new Set([
      'bootstrapServers',
      'consumerGroup',
      'topic',
      'lagThreshold',
      'activationLagThreshold',
      'offsetResetPolicy',
      'allowIdleConsumers',
      'limitToPartitionsWithLag',
      'excludePersistentLag',
      'sasl',
      'tls',
    ]);
    for (const [service, topic] of Object.entries(scaledServices)) {
      const scaled = named(objects, 'ScaledObject', service);
      const at = `ScaledObject/${service}`;
      expect(scaled.spec.scaleTargetRef, at).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: service,
      });
      expect(
        named(objects, 'Deployment', service).spec.replicas,
        `${at}: KEDA owns replicas`,
      ).toBeUndefined();
      const partitions = topicTable.find((t) => t.name === topic)?.partitions ?? 0;
      expect(scaled.spec.minReplicaCount, at).toBeGreaterThanOrEqual(2);
      expect(scaled.spec.maxReplicaCount, `${at}: no more members than partitions`).toBeLessThanOrEqual(
        partitions,
      );
      expect(scaled.spec.triggers, at).toHaveLength(1);
      const [trigger] = scaled.spec.triggers;
      expect(trigger.type, at).toBe('kafka');
      expect(trigger.authenticationRef, at).toEqual({ name: auth.metadata.name });
      for (const [key, value] of Object.entries(trigger.metadata)) {
        expect(kafkaParameters.has(key), `${at}: kafka trigger parameter ${key}`).toBe(true);
        expect(typeof value, `${at}: ${key} is a string`).toBe('string');
      }
      expect(trigger.metadata, at).toMatchObject({
        bootstrapServers: brokers,
        consumerGroup: consumerGroup(service, cell),
        topic: topicFor(cell, topic),
        sasl: 'scram_sha512',
        tls: 'enable',
        allowIdleConsumers: 'false',
      });
      expect(Number(trigger.metadata.lagThreshold), at).toBeGreaterThan(0);
    }
    for (const fixed of ['control', 'audit'])
      expect(named(objects, 'Deployment', fixed).spec.replicas, fixed).toBeGreaterThanOrEqual(2);
  });

  it('migrates with a Job that runs `massivesms migrate` under the same security context', () => {
    const job = named(objects, 'Job', 'migrate');
    const spec = job.spec.template.spec;
    const [container] = spec.containers;
    expect(container.args).toEqual(['migrate']);
    expect(container.image).toBe(
      named(objects, 'Deployment', 'router').spec.template.spec.containers[0].image,
    );
    expect(spec.restartPolicy).toBe('Never');
    expect(spec.securityContext).toEqual(
      named(objects, 'Deployment', 'router').spec.template.spec.securityContext,
    );
    expect(container.securityContext).toEqual(
      named(objects, 'Deployment', 'router').spec.template.spec.containers[0].securityContext,
    );
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(job.spec.activeDeadlineSeconds).toBeGreaterThan(0);
  });

  it('sets only variables documented in docs/configuration.md (a renamed variable fails here)', () => {
    expect(documentedVariables.size).toBeGreaterThan(30);
    for (const workload of workloads(objects)) {
      for (const container of workload.spec.template.spec.containers) {
        for (const name of containerEnv(objects, container).keys()) {
          expect(
            documentedVariables.has(name) || nodeRuntimeVariables.has(name),
            `${workload.kind}/${workload.metadata.name} sets ${name}`,
          ).toBe(true);
        }
      }
    }
    const env = containerEnv(
      objects,
      named(objects, 'Deployment', 'router').spec.template.spec.containers[0],
    );
    expect(env.get('CELL')).toBe(cell);
    expect(env.get('KAFKA_SECURITY_PROTOCOL')).toBe('SASL_SSL');
    expect(env.get('DATABASE_SSL_MODE')).toBe('verify-full');
  });

  it('commits no Secret and references only Secrets and keys that k8s/README.md documents', () => {
    expect(byKind(objects, 'Secret')).toEqual([]);
    const refs: [string, string][] = [];
    for (const workload of workloads(objects)) {
      const spec = workload.spec.template.spec;
      for (const c of spec.containers)
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef)
            refs.push([e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key]);
      for (const v of spec.volumes ?? []) {
        if (!v.secret) continue;
        if (!v.secret.items) refs.push([v.secret.secretName, '*']);
        for (const item of v.secret.items ?? []) refs.push([v.secret.secretName, item.key]);
      }
    }
    for (const r of named(objects, 'TriggerAuthentication', 'massivesms-kafka').spec.secretTargetRef)
      refs.push([r.name, r.key]);
    expect(refs.length).toBeGreaterThan(10);
    for (const [name, key] of refs) {
      const keys = documentedSecretKeys.get(name);
      expect(keys, `Secret ${name} in k8s/README.md`).toBeDefined();
      if (key !== '*') expect(keys?.has(key), `key ${key} of Secret ${name} in k8s/README.md`).toBe(true);
    }
  });

  it('admits egress only to DNS, the cell Kafka and PostgreSQL, and HTTPS on public addresses where needed', () => {
    const policies = byKind(objects, 'NetworkPolicy');
    const deny = named(objects, 'NetworkPolicy', 'default-deny');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const kafkaPorts = configMap(objects, 'massivesms-cell')
      .data.KAFKA_BROKERS.split(',')
      .map((b: string) => Number(b.split(':').at(-1)));
    const kafkaPort = kafkaPorts[0];
    expect(new Set(kafkaPorts).size).toBe(1);
    const expected: Record<string, { egress: number[]; ingress: string[] }> = {
      router: { egress: [53, kafkaPort, 5432], ingress: ['monitoring'] },
      dispatcher: { egress: [53, kafkaPort, 5432, 443], ingress: ['ingress-nginx', 'monitoring'] },
      webhooks: { egress: [53, kafkaPort, 5432, 443], ingress: ['monitoring'] },
      control: { egress: [53, kafkaPort, 5432], ingress: ['ingress-nginx', 'monitoring'] },
      audit: { egress: [53, kafkaPort, 5432], ingress: ['monitoring'] },
      migrate: { egress: [53, 5432], ingress: [] },
    };
    const privateRanges = [
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
      '100.64.0.0/10',
      '169.254.0.0/16',
      '127.0.0.0/8',
    ];
    for (const workload of workloads(objects)) {
      const labels = workload.spec.template.metadata.labels;
      const name = labels['app.kubernetes.io/name'];
      const applying = policies.filter((p) => selects(p.spec.podSelector, labels));
      const egress = applying.flatMap((p) => p.spec.egress ?? []);
      const ingress = applying.flatMap((p) => p.spec.ingress ?? []);
      const ports = [
        ...new Set(egress.flatMap((rule: K8sObject) => rule.ports.map((p: K8sObject) => p.port))),
      ];
      expect(ports.sort(), `${name} egress ports`).toEqual([...(expected[name]?.egress ?? [])].sort());
      for (const rule of egress) {
        expect(rule.to?.length, `${name}: every egress rule names its destination`).toBeGreaterThan(0);
        for (const to of rule.to) {
          if (to.ipBlock?.cidr === '0.0.0.0/0') {
            expect(
              rule.ports.map((p: K8sObject) => p.port),
              name,
            ).toEqual([443]);
            expect(to.ipBlock.except, `${name}: public addresses only`).toEqual(
              expect.arrayContaining(privateRanges),
            );
          } else if (to.ipBlock) {
            expect(to.ipBlock.cidr, name).toMatch(/^10\./);
          } else {
            expect(to.namespaceSelector?.matchLabels, name).toEqual({
              'kubernetes.io/metadata.name': 'kube-system',
            });
            expect(
              rule.ports.every((p: K8sObject) => p.port === 53),
              name,
            ).toBe(true);
          }
        }
      }
      const sources = ingress.flatMap((rule: K8sObject) =>
        rule.from.map((f: K8sObject) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']),
      );
      expect(sources.sort(), `${name} ingress`).toEqual(expected[name]?.ingress);
    }
  });

  it(`names no address of the other cell (carrier hosts, Kafka, PostgreSQL, receipts)`, () => {
    const own = new Set<string>();
    const dispatcherConfig = configMap(objects, 'massivesms-dispatcher').data;
    // The cell's carrier hosts are the dispatcher's own for this region.
    expect(dispatcherConfig.TELNYX_BASE_URL).toBe(regionHosts[cell].telnyx);
    expect(dispatcherConfig.TWILIO_BASE_URL).toBe(regionHosts[cell].twilio);
    for (const url of [
      dispatcherConfig.TELNYX_BASE_URL,
      dispatcherConfig.TWILIO_BASE_URL,
      dispatcherConfig.DISPATCHER_PUBLIC_BASE_URL,
    ])
      own.add(hostOf(url));
    for (const broker of configMap(objects, 'massivesms-cell').data.KAFKA_BROKERS.split(','))
      own.add(broker.replace(/:\d+$/, ''));
    for (const name of ['allow-kafka', 'allow-postgres']) {
      const cidrs = named(objects, 'NetworkPolicy', name).spec.egress.flatMap((r: K8sObject) =>
        r.to.map((t: K8sObject) => t.ipBlock.cidr),
      );
      expect(cidrs.length, name).toBeGreaterThan(0);
      for (const cidr of cidrs) own.add(cidr);
    }
    own.add(`massivesms-${cell}`);
    expect(own.size).toBeGreaterThanOrEqual(9);
    for (const address of own) expect(other, `the other cell names ${address}`).not.toContain(address);
    // And no carrier host of another region, in any form.
    const text = objects.map((o) => JSON.stringify(o)).join('\n');
    for (const [region, hosts] of Object.entries(regionHosts)) {
      if (region === cell) continue;
      for (const url of Object.values(hosts))
        expect(text, `${cell} names ${region}'s ${url}`).not.toContain(hostOf(url));
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(read('Dockerfile'));
  const froms = dockerfile.getFROMs();
  const resolve = (text: string, line: number) =>
    text.replace(
      /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g,
      (_, name) => dockerfile.resolveVariable(name, line) ?? '',
    );
  const stages = () => {
    const instructions = dockerfile.getInstructions();
    return froms.map((from, i) => {
      const start = from.getRange().start.line;
      const end = froms[i + 1]?.getRange().start.line ?? Number.POSITIVE_INFINITY;
      return instructions.filter((x) => x.getRange().start.line >= start && x.getRange().start.line < end);
    });
  };

  it('builds on the Node 24 image of the version the project pins, in more than one stage', () => {
    const pinned = (JSON.parse(read('package.json')) as { devDependencies: Record<string, string> })
      .devDependencies.node;
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      const image = resolve(from.getImage() ?? '', from.getRange().start.line);
      expect(image).toMatch(new RegExp(`^node:${pinned?.replaceAll('.', '\\.')}-[a-z]+-slim$`));
    }
  });

  it('installs production dependencies only, with npm ci from the lock file', () => {
    const runs = dockerfile
      .getInstructions()
      .filter((i) => i.getKeyword() === 'RUN')
      .map((i) => i.getTextContent());
    expect(runs.some((r) => /npm ci --omit=dev/.test(r))).toBe(true);
    expect(
      runs.some((r) => /\bnpm (install|i)\b|--include=dev|\byarn (install|add)\b|\bpnpm\b/.test(r)),
    ).toBe(false);
    // `npm ci` runs the root install scripts: every tool they call must be a production dependency.
    const pkg = JSON.parse(read('package.json')) as {
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
    };
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
      const command = pkg.scripts[script]?.split(/\s+/)[0];
      if (command) expect(pkg.dependencies, `${script}: ${command}`).toHaveProperty(command);
    }
    const ignored = read('.dockerignore').split('\n');
    for (const path of ['**/node_modules', '.git', '.local', '**/test']) expect(ignored).toContain(path);
  });

  it('runs as the non-root user the manifests expect, with the massivesms entry point', () => {
    const final = stages().at(-1) ?? [];
    const users = final.filter((i) => i.getKeyword() === 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = (users[0]?.getArgumentsContent() ?? '').split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    const deployment = render('eu').find((o) => o.kind === 'Deployment') as K8sObject;
    expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsUser: uid, runAsGroup: gid });
    const entrypoint = final.find((i) => i.getKeyword() === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint?.getArgumentsContent() ?? 'null')).toEqual([
      'node',
      '/app/bin/massivesms.ts',
    ]);
    // Probes live in the manifests (the port and scheme differ per service; migrate serves nothing).
    expect(final.find((i) => i.getKeyword() === 'HEALTHCHECK')?.getArgumentsContent()).toBe('NONE');
  });
});

// The processes of a pipeline bench run: each service as `massivesms <service>` starts it (configured
// by environment, as deployed), or all four in one process (pipeline-host.ts), each with the SQL
// statement counter preloaded (pg-statements.ts); the simulators as `massivesms simulate`.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StatementCounts } from './pg-statements.ts';

export const SERVICES = ['router', 'dispatcher', 'webhooks', 'audit'] as const;
export type ServiceName = (typeof SERVICES)[number];

const cli = fileURLToPath(new URL('../bin/massivesms.ts', import.meta.url));
const host = fileURLToPath(new URL('pipeline-host.ts', import.meta.url));
const counter = fileURLToPath(new URL('pg-statements.ts', import.meta.url));

// Every child still running when the bench exits (it crashed, say) is killed: none outlives it.
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
function adopt(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** The line each service logs once it consumes (its main.ts). */
const READY: Record<ServiceName, string> = {
  router: 'router consuming',
  dispatcher: 'dispatcher consuming',
  webhooks: 'webhooks delivering',
  audit: 'audit appending',
};

/** What the services of a run are configured with. */
export interface PipelineSettings {
  readonly brokers: readonly string[];
  readonly databaseUrl: string;
  readonly schema: string;
  readonly masterKey: string;
  readonly namespace: string;
  readonly telnyx: { readonly baseUrl: string; readonly publicKey: string; readonly apiKey: string };
  readonly twilio: { readonly baseUrl: string; readonly accountSid: string; readonly authToken: string };
}

/**
 * The environment of every service (docs/configuration.md): the bench's topics and schema, the
 * simulators as carriers, carrier rate limits lifted (the simulators have none to protect), the
 * webhooks worker's per-endpoint limits raised for the one bench endpoint, everything else default.
 */
export function serviceEnvironment(s: PipelineSettings): Record<string, string> {
  const lifted = 1_000_000;
  return {
    PATH: process.env.PATH ?? '',
    CELL: 'us',
    KAFKA_BROKERS: s.brokers.join(','),
    DATABASE_URL: `${s.databaseUrl}?options=${encodeURIComponent(`-c search_path=${s.schema}`)}`,
    HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    KMS_MASTER_KEY: s.masterKey,
    TOPIC_NAMESPACE: s.namespace,
    TELNYX_API_KEY: s.telnyx.apiKey,
    TELNYX_PUBLIC_KEY: s.telnyx.publicKey,
    TELNYX_BASE_URL: s.telnyx.baseUrl,
    TWILIO_ACCOUNT_SID: s.twilio.accountSid,
    TWILIO_AUTH_TOKEN: s.twilio.authToken,
    TWILIO_BASE_URL: s.twilio.baseUrl,
    DISPATCHER_ACCOUNT_RATES: `telnyx=${lifted},twilio=${lifted}`,
    DISPATCHER_SENDER_RATES: `e164=${lifted},short_code=${lifted},alphanumeric=${lifted}`,
    WEBHOOKS_ALLOWLIST: '127.0.0.1',
    WEBHOOKS_PER_ENDPOINT_CONCURRENCY: '64',
    WEBHOOKS_PER_ENDPOINT_RATE: '100000',
    WEBHOOKS_MAX_IN_FLIGHT: '512',
  };
}

/** A process running one service (`separate`) or all of them (`single`). */
export interface ServiceProcess {
  /** The service's name, or `services` for the one process of `single`. */
  readonly role: string;
  readonly services: readonly ServiceName[];
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves once every service in it logged its start line; rejects if the process exits first. */
  readonly ready: Promise<void>;
  /** SQL statements the process has sent so far. */
  statements(): Promise<StatementCounts>;
  /** SIGTERM (the services drain), then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `services` in one process under `role`; its warnings and errors go to stderr. */
export function startServiceProcess(
  role: string,
  services: readonly ServiceName[],
  env: Record<string, string>,
): ServiceProcess {
  const args =
    services.length === 1 && role === services[0]
      ? ['--import', counter, cli, services[0]]
      : ['--import', counter, host];
  const child = spawn(process.execPath, args, {
    env: { ...env, BENCH_HOST_SERVICES: services.join(',') },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  adopt(child);
  const waiting = new Set<string>(services.map((s) => READY[s]));
  const tail: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let entry: { level?: number; msg?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        entry = { level: 50, msg: line };
      }
      if (entry.msg !== undefined && waiting.delete(entry.msg) && waiting.size === 0) resolve();
      if ((entry.level ?? 0) >= 40) console.error(`[${role}] ${line}`);
      tail.push(line);
      if (tail.length > 20) tail.shift();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => console.error(`[${role}] ${line}`));
    child.once('exit', (code, signal) => {
      if (waiting.size > 0)
        reject(new Error(`${role} exited (${code ?? signal}) before it started:\n${tail.join('\n')}`));
    });
  });
  ready.catch(() => {}); // awaited by the caller; an exit after start must not be unhandled
  return {
    role,
    services,
    pid: child.pid!,
    child,
    ready,
    async statements() {
      const answer = new Promise<StatementCounts>((resolve) => {
        const onMessage = (message: unknown) => {
          const counts = (message as { pgStatements?: StatementCounts } | null)?.pgStatements;
          if (!counts) return;
          child.off('message', onMessage);
          resolve(counts);
        };
        child.on('message', onMessage);
      });
      child.send('pg-statements');
      return answer;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A simulator in its own process (`massivesms simulate <args>`) and the JSON line it starts with. */
export interface SimulatorProcess<T> {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly info: T;
  stop(): Promise<void>;
}

export async function startSimulator<T>(args: readonly string[]): Promise<SimulatorProcess<T>> {
  const child = spawn(process.execPath, [cli, 'simulate', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  adopt(child);
  const [first] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  child.stdout!.resume(); // nothing more is expected, but a full pipe must never block it
  return {
    child,
    pid: child.pid!,
    info: JSON.parse(first) as T,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

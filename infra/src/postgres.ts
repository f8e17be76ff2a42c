import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, run } from './process.ts';
import type { InfraSettings } from './settings.ts';

export interface LocalPostgres {
  /** Server URL without a database name's special meaning: the `postgres` maintenance database. */
  readonly serverUrl: string;
  readonly version: string;
  /** How it was found: the DATABASE_URL variable, the usual local server, or a cluster started here. */
  readonly source: 'DATABASE_URL' | 'local-server' | 'throwaway-cluster';
  readonly started: boolean;
}

const DEFAULT_LOCAL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Asks the server for its version; undefined when nothing answers. */
export async function postgresVersion(url: string, timeoutMs = 2_000): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Replaces the database name of a PostgreSQL URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates a database if it does not exist (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(serverUrl: string, database: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      await client
        .query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`)
        .catch((error: { code?: string }) => {
          if (error.code !== '42P04') throw error; // created concurrently by another process
        });
    }
  } finally {
    await client.end();
  }
  return withDatabase(serverUrl, database);
}

/** Directory holding initdb and pg_ctl: PATH first, then Debian's versioned folders (newest). */
function postgresBinDir(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(debian, v, 'bin/initdb'))) return join(debian, v, 'bin');
  }
  throw new Error(
    'No PostgreSQL answers (DATABASE_URL unset, nothing on 127.0.0.1:5432) and no initdb/pg_ctl found: install the PostgreSQL server binaries or set DATABASE_URL',
  );
}

/** PostgreSQL refuses to run as root: run its tools as the `postgres` user then. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

/** Initialises (first time) and starts a throwaway cluster under `dir` on a free port. */
export async function startThrowawayCluster(dir: string): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  const dataDir = join(dir, 'data');
  const portFile = join(dir, 'port');
  mkdirSync(dir, { recursive: true });
  if (userInfo().uid === 0) {
    const { uid, gid } = await run('id', ['-u', 'postgres']).then(async (u) => ({
      uid: Number(u.trim()),
      gid: Number((await run('id', ['-g', 'postgres'])).trim()),
    }));
    chownSync(dir, uid, gid);
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const [cmd, args] = asServerUser(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-instructions',
    ]);
    await run(cmd, args);
  }
  const existingPort = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : undefined;
  if (existingPort) {
    const url = `postgres://postgres@127.0.0.1:${existingPort}/postgres`;
    const version = await postgresVersion(url);
    if (version) return { serverUrl: url, version, source: 'throwaway-cluster', started: false };
  }
  const port = await freePort();
  const [cmd, args] = asServerUser(join(bin, 'pg_ctl'), [
    '-D',
    dataDir,
    '-l',
    join(dir, 'server.log'),
    '-o',
    `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=200`,
    '-w',
    'start',
  ]);
  await run(cmd, args);
  writeFileSync(portFile, String(port));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const version = await postgresVersion(url, 10_000);
  if (!version)
    throw new Error(`throwaway PostgreSQL cluster in ${dataDir} started but does not answer on ${port}`);
  return { serverUrl: url, version, source: 'throwaway-cluster', started: true };
}

/** Stops a throwaway cluster started by `startThrowawayCluster` (no-op when none runs). */
export async function stopThrowawayCluster(dir: string): Promise<boolean> {
  const dataDir = join(dir, 'data');
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return false;
  const [cmd, args] = asServerUser(join(postgresBinDir(), 'pg_ctl'), [
    '-D',
    dataDir,
    '-m',
    'fast',
    '-w',
    'stop',
  ]);
  await run(cmd, args);
  writeFileSync(join(dir, 'port'), '');
  return true;
}

/**
 * Finds a PostgreSQL server: DATABASE_URL if set, else 127.0.0.1:5432 if it answers, else a
 * throwaway cluster started from the installed binaries.
 */
export async function ensurePostgres(
  settings: Pick<InfraSettings, 'externalDatabaseUrl' | 'stateDir'>,
): Promise<LocalPostgres> {
  const external = settings.externalDatabaseUrl;
  if (external) {
    const version = await postgresVersion(external, 10_000);
    if (!version) throw new Error('DATABASE_URL is set but no PostgreSQL server answers there');
    return { serverUrl: external, version, source: 'DATABASE_URL', started: false };
  }
  const version = await postgresVersion(DEFAULT_LOCAL);
  if (version) return { serverUrl: DEFAULT_LOCAL, version, source: 'local-server', started: false };
  return startThrowawayCluster(throwawayDir(settings));
}

/** Folder of the repository's throwaway cluster. */
export const throwawayDir = (settings: Pick<InfraSettings, 'stateDir'>) =>
  join(settings.stateDir, 'postgres');

/** A PostgreSQL cluster of one test's own that accepts TCP connections over TLS only. */
export interface PrivateTlsPostgres {
  readonly port: number;
  /** The superuser and its password (pg_hba asks TCP clients for SCRAM-SHA-256). */
  readonly user: string;
  readonly password: string;
  /** Stops the cluster and deletes its folder. */
  remove(): Promise<void>;
}

/**
 * Initialises and starts a throwaway cluster with `ssl=on`, the given certificate and key, and a
 * pg_hba.conf of `hostssl` lines only, so a plaintext TCP connection is refused. Listens on
 * `localhost` (both loopback addresses) on a free port; the shared server is never touched.
 */
export async function startPrivateTlsCluster(tls: {
  readonly certFile: string;
  readonly keyFile: string;
}): Promise<PrivateTlsPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'massivesms-private-pg-'));
  const dataDir = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, password);
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  copyFileSync(tls.certFile, certFile);
  copyFileSync(tls.keyFile, keyFile);
  chmodSync(keyFile, 0o600); // the server refuses a key others can read
  if (userInfo().uid === 0) {
    const uid = Number((await run('id', ['-u', 'postgres'])).trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).trim());
    for (const path of [dir, pwFile, certFile, keyFile]) chownSync(path, uid, gid);
  }
  const remove = async () => {
    if (existsSync(join(dataDir, 'postmaster.pid'))) {
      const [cmd, args] = asServerUser(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      await run(cmd, args).catch(() => {});
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [initdb, initArgs] = asServerUser(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      `--pwfile=${pwFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--no-instructions',
    ]);
    await run(initdb, initArgs);
    // hostssl only: a TCP client that does not start TLS finds no matching line and is refused.
    writeFileSync(
      join(dataDir, 'pg_hba.conf'),
      [
        'local all all trust',
        'hostssl all all 127.0.0.1/32 scram-sha-256',
        'hostssl all all ::1/128 scram-sha-256',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const [cmd, args] = asServerUser(join(bin, 'pg_ctl'), [
      '-D',
      dataDir,
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-p ${port} -c listen_addresses=localhost -k ${dir} -c fsync=off -c ssl=on -c ssl_cert_file=${certFile} -c ssl_key_file=${keyFile}`,
      '-w',
      'start',
    ]);
    await run(cmd, args);
    return { port, user: 'postgres', password, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

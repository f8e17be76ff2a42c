// The production connection (DPA §5): a private PostgreSQL cluster with ssl=on, a certificate for
// `localhost` signed by a CA this test makes, and hostssl-only pg_hba, reached through the
// DATABASE_* variables exactly as a service does (databasePoolOptions → createPgDb).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { databasePoolOptions, databaseSpec, parseConfig } from '@massivesms/config';
import {
  createTestPki,
  type PrivateTlsPostgres,
  startPrivateTlsCluster,
  type TestPki,
} from '@massivesms/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDb, type Db, DbConfigError } from '../src/index.ts';

describe('PostgreSQL over TLS (verify-full)', () => {
  let dir: string;
  let pki: TestPki;
  let server: PrivateTlsPostgres;
  const opened: Db[] = [];

  const url = (host: string) =>
    `postgres://${server.user}:${server.password}@${host}:${server.port}/postgres`;

  /** A pool built from the DATABASE_* variables, through the same code path as every service. */
  function fromEnv(env: Record<string, string>): Db {
    const db = createPgDb({
      ...databasePoolOptions(parseConfig(databaseSpec, env)),
      max: 1,
      connectionTimeoutMs: 5_000,
      onError: () => {},
    });
    opened.push(db);
    return db;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'massivesms-pg-tls-'));
    pki = await createTestPki(dir, ['localhost']);
    server = await startPrivateTlsCluster({ certFile: pki.serverCertFile, keyFile: pki.serverKeyFile });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close().catch(() => {})));
    await server?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('connects with verify-full: the certificate chains to the CA and names the host', async () => {
    const db = fromEnv({
      DATABASE_URL: url('localhost'),
      DATABASE_SSL_MODE: 'verify-full',
      DATABASE_SSL_CA_FILE: pki.caFile,
    });
    const { rows } = await db.query<{ ssl: boolean; version: string }>(
      'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    expect(rows).toEqual([{ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) }]);
  });

  it('refuses a server whose certificate does not chain to the configured CA', async () => {
    const db = fromEnv({
      DATABASE_URL: url('localhost'),
      DATABASE_SSL_MODE: 'verify-full',
      DATABASE_SSL_CA_FILE: pki.otherCaFile,
    });
    await expect(db.query('SELECT 1')).rejects.toThrow(/certificate/i);
  });

  it('refuses a host name the certificate does not name', async () => {
    // The certificate names `localhost`; 127.0.0.1 reaches the same server but is not in it.
    const db = fromEnv({
      DATABASE_URL: url('127.0.0.1'),
      DATABASE_SSL_MODE: 'verify-full',
      DATABASE_SSL_CA_FILE: pki.caFile,
    });
    await expect(db.query('SELECT 1')).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list|altnames/);
  });

  it('is refused in plaintext by the hostssl-only server', async () => {
    // Loopback with the mode unset: the development default, no TLS.
    const db = fromEnv({ DATABASE_URL: url('localhost') });
    await expect(db.query('SELECT 1')).rejects.toThrow(/no pg_hba\.conf entry .*no encryption/);
  });

  it('is verify-full by default for a host that is not loopback', () => {
    // No connection: the option alone shows what the pool would do for a remote server.
    expect(
      databasePoolOptions(parseConfig(databaseSpec, { DATABASE_URL: 'postgres://svc@db.internal/m' })).ssl,
    ).toEqual({});
  });

  it('refuses ssl URL parameters that would override the ssl option', () => {
    expect(() => createPgDb({ url: `${url('localhost')}?sslmode=require`, ssl: { ca: 'x' } })).toThrow(
      DbConfigError,
    );
    expect(() =>
      parseConfig(databaseSpec, { DATABASE_URL: `${url('localhost')}?sslmode=no-verify` }),
    ).toThrow(/not the URL parameter sslmode/);
  });
});

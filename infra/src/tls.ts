// A throwaway certificate authority for tests of the TLS connections (DPA §5): a CA, a server
// certificate it signs, the same as a PKCS12 keystore for the Kafka broker, and a second, unrelated
// CA that must not be trusted. Made with the openssl command, as an operator would.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './process.ts';

export interface TestPki {
  /** PEM of the CA that signed the server certificate. */
  readonly caFile: string;
  /** PEM of another CA, which signed nothing the servers present. */
  readonly otherCaFile: string;
  readonly serverCertFile: string;
  /** Unencrypted PEM key of the server certificate (PostgreSQL wants mode 0600). */
  readonly serverKeyFile: string;
  /** PKCS12 of the server key and certificate (Kafka's `ssl.keystore.type=PKCS12`). */
  readonly keystoreFile: string;
  readonly keystorePassword: string;
}

async function selfSignedCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=massivesms ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

/**
 * Creates the CA and a server certificate for `hosts` (names become DNS names, addresses IP
 * addresses in the subjectAltName, which is all TLS clients check) under `dir`.
 */
export async function createTestPki(dir: string, hosts: readonly string[]): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const ca = await selfSignedCa(dir, 'test-ca');
  const other = await selfSignedCa(dir, 'other-ca');
  const serverKeyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const serverCertFile = join(dir, 'server.crt');
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${hosts[0] ?? 'localhost'}`,
    '-keyout',
    serverKeyFile,
    '-out',
    csr,
  ]);
  const ext = join(dir, 'server.ext');
  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', [
    'x509',
    '-req',
    '-days',
    '2',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-extfile',
    ext,
    '-out',
    serverCertFile,
  ]);
  const keystorePassword = randomBytes(12).toString('hex');
  const keystoreFile = join(dir, 'server.p12');
  await run('openssl', [
    'pkcs12',
    '-export',
    '-in',
    serverCertFile,
    '-inkey',
    serverKeyFile,
    '-passout',
    `pass:${keystorePassword}`,
    '-out',
    keystoreFile,
  ]);
  return {
    caFile: ca.cert,
    otherCaFile: other.cert,
    serverCertFile,
    serverKeyFile,
    keystoreFile,
    keystorePassword,
  };
}

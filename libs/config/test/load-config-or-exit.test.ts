import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CONFIG_EXIT_CODE, commonSpec, loadConfigOrExit } from '../src/index.ts';
import { randomKey, validEnv } from './helpers.ts';

const run = promisify(execFile);
const entry = fileURLToPath(new URL('./fixtures/load-common-config.ts', import.meta.url));

class Exited extends Error {
  readonly exitCode: number;

  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.exitCode = exitCode;
  }
}

function fakeIo() {
  let stderr = '';
  return {
    io: {
      stderr: { write: (chunk: string) => (stderr += chunk) },
      exit: (code: number): never => {
        throw new Exited(code);
      },
    },
    stderr: () => stderr,
  };
}

async function runEntry(env: Record<string, string>) {
  // No inherited environment: the child sees exactly what the test gives it.
  return run(process.execPath, [entry], { env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

describe('loadConfigOrExit', () => {
  it('returns the parsed config when the environment is valid', () => {
    const { io, stderr } = fakeIo();

    const config = loadConfigOrExit(commonSpec, validEnv({ CELL: 'us' }), io);

    expect(config.cell).toBe('us');
    expect(stderr()).toBe('');
  });

  it('prints one line per bad variable to stderr and exits with code 2', () => {
    const { io, stderr } = fakeIo();
    const key = 'AAAA'.repeat(10);

    const exited = (() => {
      try {
        loadConfigOrExit(commonSpec, { KMS_MASTER_KEY: key, HTTP_PORT: 'http', KAFKA_BROKERS: ' ' }, io);
      } catch (error) {
        return error;
      }
    })();

    expect(exited).toBeInstanceOf(Exited);
    expect((exited as Exited).exitCode).toBe(CONFIG_EXIT_CODE);
    expect(CONFIG_EXIT_CODE).toBe(2);
    expect(stderr().split('\n')).toEqual([
      'config: CELL: required',
      'config: HTTP_PORT: must be an integer from 0 to 65535',
      'config: KMS_MASTER_KEY: must be base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)',
      '',
    ]);
    expect(stderr()).not.toContain(key);
  });

  it('rethrows errors that are not configuration errors', () => {
    const { io } = fakeIo();
    const boom = new Error('schema bug');
    const spec = {
      A: {
        description: 'x',
        schema: {
          safeParse: () => {
            throw boom;
          },
        },
      },
    } as unknown as typeof commonSpec;

    expect(() => loadConfigOrExit(spec, {}, io)).toThrow(boom);
  });

  it('when a real process starts with HTTP_PORT=99999, it exits 2 and stderr names HTTP_PORT', async () => {
    const result = await runEntry({ CELL: 'eu', KMS_MASTER_KEY: randomKey(), HTTP_PORT: '99999' });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('config: HTTP_PORT: must be an integer from 0 to 65535');
    expect(result.stdout).toBe('');
  });

  it('when a real process starts with a valid environment, it runs with secrets masked in its output', async () => {
    const key = randomKey();

    const result = await runEntry({ CELL: 'eu', KMS_MASTER_KEY: key, HTTP_PORT: '0' });

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ cell: 'eu', httpPort: 0, kmsMasterKey: '[secret]' });
    expect(result.stdout).not.toContain(key);
  });
});

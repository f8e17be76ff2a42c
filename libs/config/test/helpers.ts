import { randomBytes } from 'node:crypto';

/** A fresh random key in the shape KMS_MASTER_KEY requires. */
export function randomKey(): string {
  return randomBytes(32).toString('base64');
}

/** The smallest valid environment for commonSpec. */
export function validEnv(
  overrides: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return { CELL: 'eu', KMS_MASTER_KEY: randomKey(), ...overrides };
}

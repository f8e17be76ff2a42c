import { fileURLToPath } from 'node:url';

/** Repository root (infra/src/ is two levels down). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Git-ignored folder for everything local infrastructure writes: jars, data, logs, pids. */
export const stateRoot = process.env.MASSIVESMS_STATE_DIR ?? `${repoRoot}.local/infra`;

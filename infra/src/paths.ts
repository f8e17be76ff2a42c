import { fileURLToPath } from 'node:url';

/** Repository root (infra/src/ is two levels down). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

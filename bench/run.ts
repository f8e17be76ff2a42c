// `npm run bench [-- name…]`: runs the benchmarks (each writes bench/reports/<name>.json).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const all = ['router', 'dispatch', 'pipeline', 'control', 'audit', 'db'];
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all;
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`unknown bench ${name}; known: ${all.join(', ')}`);
    process.exit(2);
  }
  console.log(`\n== bench ${name}`);
  const file = fileURLToPath(new URL(`${name}.ts`, import.meta.url));
  const result = spawnSync(process.execPath, [file], {
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

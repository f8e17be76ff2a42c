// The embedded demo, run again and again with the machine's other core kept busy: every run must
// finish with every accepted message in a terminal status and every webhook delivered.
//
//   node bench/demo-soak.ts [runs=20] [messages=500]
//
// A busy loop in a child process stands in for `stress --cpu 1` (no extra package needed); the
// report goes to bench/reports/demo-soak-<messages>.json.
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { writeReport } from './report-file.ts';

const runs = Number(process.argv[2] ?? 20);
const messages = Number(process.argv[3] ?? 500);
const repoRoot = fileURLToPath(new URL('../', import.meta.url));

const burner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
process.once('exit', () => burner.kill('SIGKILL'));

interface Run {
  run: number;
  exitCode: number | null;
  seconds: number;
  accepted?: number;
  delivered?: number;
  undelivered?: number;
  failed?: number;
  ambiguous?: number;
  webhooksDelivered?: number;
  signatureFailures?: number;
}

function demo(): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['bin/massivesms.ts', 'demo', '--messages', String(messages), '--json'],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

const results: Run[] = [];
for (let run = 1; run <= runs; run++) {
  const started = performance.now();
  const { code, stdout } = await demo();
  const seconds = Number(((performance.now() - started) / 1000).toFixed(1));
  const last = stdout.trim().split('\n').at(-1) ?? '';
  let summary: Record<string, unknown> = {};
  try {
    summary = JSON.parse(last) as Record<string, unknown>;
  } catch {
    // no summary: the run failed
  }
  const webhooks = (summary.webhooks ?? {}) as Record<string, number>;
  const result: Run = {
    run,
    exitCode: code,
    seconds,
    accepted: summary.accepted as number,
    delivered: summary.delivered as number,
    undelivered: summary.undelivered as number,
    failed: summary.failed as number,
    ambiguous: summary.ambiguous as number,
    ...(summary.webhooks
      ? { webhooksDelivered: webhooks.delivered, signatureFailures: webhooks.signatureFailures }
      : {}),
  };
  results.push(result);
  console.log(
    `run ${String(run).padStart(2)}: exit ${code}, ${seconds} s, accepted ${result.accepted}, delivered ${result.delivered}, ` +
      `undelivered ${result.undelivered}, failed ${result.failed}, ambiguous ${result.ambiguous}, webhooks ${result.webhooksDelivered}`,
  );
}
burner.kill('SIGKILL');

const seconds = results.map((r) => r.seconds).sort((a, b) => a - b);
const report = {
  date: new Date().toISOString(),
  machine: { cores: cpus().length, node: process.version, loadavg: loadavg() },
  load: 'one core kept busy by a spinning child process for the whole soak',
  messages,
  runs,
  completed: results.filter((r) => r.exitCode === 0).length,
  seconds: { min: seconds[0], median: seconds[Math.floor(seconds.length / 2)], max: seconds.at(-1) },
  results,
};
writeReport(new URL(`./reports/demo-soak-${messages}.json`, import.meta.url), report);
console.log(
  `${report.completed}/${runs} runs completed; seconds min ${report.seconds.min}, median ${report.seconds.median}, max ${report.seconds.max}`,
);
process.exitCode = report.completed === runs ? 0 : 1;

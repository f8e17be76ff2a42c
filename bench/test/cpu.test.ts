import { describe, expect, it } from 'vitest';
import { type CpuSnapshot, classifyPostgresTitle, cpuMsByRole } from '../cpu.ts';
import { TICKS_PER_SECOND } from '../procfs.ts';

describe('classifyPostgresTitle', () => {
  it.each([
    ['postgres: 15/main: postgres massivesms_bench 127.0.0.1(51964) idle', { clientPort: 51964 }],
    ['postgres: 15/main: postgres massivesms_bench 127.0.0.1(40998) INSERT', { clientPort: 40998 }],
    ['postgres: postgres massivesms ::1(5000) idle in transaction', { clientPort: 5000 }],
    ['postgres: 15/main: postgres massivesms [local] idle', 'local'],
    ['postgres: 15/main: parallel worker for PID 2231', { leaderPid: 2231 }],
    ['postgres: 15/main: checkpointer', 'background'],
    ['postgres: 15/main: autovacuum worker massivesms_bench', 'background'],
    ['/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main', undefined],
  ])('%s', (title, kind) => {
    expect(classifyPostgresTitle(title)).toEqual(kind);
  });
});

describe('cpuMsByRole', () => {
  const snapshot = (processes: [string, string, number][], postgresServerTicks: number): CpuSnapshot => ({
    at: 0,
    processes: new Map(processes.map(([key, role, ticks]) => [key, { role, ticks }])),
    postgresServerTicks,
  });
  const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;

  it('counts what each process used in between, a new one from zero, under the role it has at the end', () => {
    const from = snapshot(
      [
        ['10@1', 'router', 100],
        ['20@5', 'postgres:unclassified', 3],
        ['30@7', 'postgres:router', 50],
      ],
      1_000,
    );
    const to = snapshot(
      [
        ['10@1', 'router', 130],
        ['20@5', 'postgres:router', 13], // its title showed up: now known to serve the router
        ['30@7', 'postgres:router', 55], // exited since: its last reading stays
        ['40@9', 'postgres:router', 4], // connected in between
        ['10@99', 'router', 2], // a new process that reused pid 10
      ],
      1_040,
    );
    expect(cpuMsByRole(from, to)).toEqual({
      router: ms(30 + 2),
      'postgres:router': ms(10 + 5 + 4),
      'postgres:server': ms(40),
    });
  });
});

// CPU accounting of every process a pipeline run involves, from /proc (procfs.ts): the processes
// the bench knows by pid (services, simulators, the broker, the bench itself) and the PostgreSQL
// server's processes, each backend counted under the process at the other end of its connection
// (`postgres:router`, …), found by matching the client port in the backend's process title with the
// local ports of our processes' sockets. Backends come and go (pools close idle connections): the
// sampler reads them every `sampleMs` and keeps the last reading of one that exited, so its CPU
// stays counted (a pool closes a connection only after it idled, so the reading is not stale).
// The whole server's total (the postmaster's own CPU, its reaped children's and the live children's)
// is kept beside it as the exact cross-check: it also holds other clients of the shared server.
import {
  childrenOf,
  connectionPorts,
  type ProcStat,
  readCmdline,
  readStat,
  tcpSockets,
  ticksToMs,
} from './procfs.ts';

/** A process counted under a role (`router`, `kafka`, `bench`, …). */
export interface Tracked {
  readonly role: string;
  readonly pid: number;
}

/** CPU so far of every process seen, by `pid@startTime`, with the role it counts under. */
export interface CpuSnapshot {
  readonly at: number;
  readonly processes: ReadonlyMap<string, { readonly role: string; readonly ticks: number }>;
  /** The whole PostgreSQL server, clients of other users included. */
  readonly postgresServerTicks: number;
}

/** PostgreSQL processes that serve no client connection: checkpointer, WAL writer, autovacuum, … */
export const POSTGRES_BACKGROUND = 'postgres:background';
/** Backends of clients that are not ours (other users of the shared server, local sockets). */
export const POSTGRES_OTHER = 'postgres:other';
const POSTGRES_UNCLASSIFIED = 'postgres:unclassified';

/**
 * Who a PostgreSQL process works for, from its process title: `{ clientPort }` for a client
 * backend over TCP (`postgres: 15/main: user db 127.0.0.1(51964) idle`), `{ leaderPid }` for a
 * parallel worker, `background` for the server's own processes, `local` for a Unix-socket client,
 * undefined while a fresh fork still shows the postmaster's command line.
 */
export function classifyPostgresTitle(
  title: string,
): { clientPort: number } | { leaderPid: number } | 'background' | 'local' | undefined {
  if (!title.startsWith('postgres:')) return undefined;
  const client = /\S\((\d+)\)(\s|$)/.exec(title);
  if (client) return { clientPort: Number(client[1]) };
  if (/\s\[local\](\s|$)/.test(title)) return 'local';
  const parallel = /parallel worker for PID (\d+)/.exec(title);
  if (parallel) return { leaderPid: Number(parallel[1]) };
  return 'background';
}

export class CpuAccounting {
  readonly #tracked: () => readonly Tracked[];
  readonly #postmasterPid: number | undefined;
  readonly #postgresPort: number;
  readonly #seen = new Map<string, { role: string; ticks: number }>();
  #serverTicks = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `tracked` is asked at every sample (services start during a run); `postmasterPid` is the
   * server listening on `postgresPort` (undefined: PostgreSQL is not on this machine, not counted).
   */
  constructor(options: { tracked: () => readonly Tracked[]; postmasterPid?: number; postgresPort: number }) {
    this.#tracked = options.tracked;
    this.#postmasterPid = options.postmasterPid;
    this.#postgresPort = options.postgresPort;
  }

  /** Samples every `sampleMs` until stop(). */
  start(sampleMs = 500): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), sampleMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Samples now and returns what every process has used so far. */
  snapshot(): CpuSnapshot {
    this.sample();
    return { at: performance.now(), processes: new Map(this.#seen), postgresServerTicks: this.#serverTicks };
  }

  sample(): void {
    const tracked = this.#tracked();
    for (const { role, pid } of tracked) {
      const stat = readStat(pid);
      if (stat) this.#seen.set(key(stat), { role, ticks: stat.ticks });
    }
    if (this.#postmasterPid === undefined) return;
    const postmaster = readStat(this.#postmasterPid);
    if (!postmaster) return;
    const children = childrenOf(this.#postmasterPid);
    // Our processes' connections to the server, by local port.
    const sockets = tcpSockets();
    const ownerOfPort = new Map<number, string>();
    for (const { role, pid } of tracked)
      for (const port of connectionPorts(pid, this.#postgresPort, sockets)) ownerOfPort.set(port, role);
    const roleOfPid = new Map<number, string>();
    const parallel: [ProcStat, number][] = [];
    let server = postmaster.ticks + postmaster.childTicks;
    for (const child of children) {
      server += child.ticks;
      const k = key(child);
      const known = this.#seen.get(k)?.role;
      // Unclassified and foreign backends are looked at again: a fresh fork gets its title late.
      let role =
        known !== undefined && known !== POSTGRES_UNCLASSIFIED && known !== POSTGRES_OTHER
          ? known
          : undefined;
      if (role === undefined) {
        const kind = classifyPostgresTitle(readCmdline(child.pid));
        if (kind === undefined) role = POSTGRES_UNCLASSIFIED;
        else if (kind === 'background') role = POSTGRES_BACKGROUND;
        else if (kind === 'local') role = POSTGRES_OTHER;
        else if ('clientPort' in kind) {
          const owner = ownerOfPort.get(kind.clientPort);
          role = owner !== undefined ? `postgres:${owner}` : POSTGRES_OTHER;
        } else {
          parallel.push([child, kind.leaderPid]);
          continue;
        }
      }
      roleOfPid.set(child.pid, role);
      this.#seen.set(k, { role, ticks: child.ticks });
    }
    // A parallel worker works for its leader's client.
    for (const [child, leader] of parallel)
      this.#seen.set(key(child), { role: roleOfPid.get(leader) ?? POSTGRES_OTHER, ticks: child.ticks });
    this.#serverTicks = server;
  }
}

const key = (stat: ProcStat) => `${stat.pid}@${stat.startTime}`;

/** CPU milliseconds per role between two snapshots (a process first seen in `to` started in between). */
export function cpuMsByRole(from: CpuSnapshot, to: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, { role, ticks }] of to.processes) {
    const used = ticks - (from.processes.get(k)?.ticks ?? 0);
    out[role] = (out[role] ?? 0) + ticksToMs(used);
  }
  out['postgres:server'] = ticksToMs(to.postgresServerTicks - from.postgresServerTicks);
  return out;
}

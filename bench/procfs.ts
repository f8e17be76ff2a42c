// What the benches read from Linux's /proc: CPU time and peak memory of any process (the broker and
// PostgreSQL included), the children of a process, who listens on a port and which local ports a
// process's TCP connections use. Parsers are exported apart from the reads so they can be tested on
// fixed text. Every read of another process returns undefined once that process has exited.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Clock ticks per second of utime/stime (`getconf CLK_TCK`; 100 on every Linux we run on). */
export const TICKS_PER_SECOND = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim();
  const ticks = Number(out);
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

/** Milliseconds of CPU in `ticks` clock ticks. */
export const ticksToMs = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;

/** The fields of /proc/<pid>/stat the benches use. */
export interface ProcStat {
  readonly pid: number;
  /** The executable name (at most 15 characters), without the parentheses. */
  readonly comm: string;
  readonly ppid: number;
  /** User + system CPU of the process itself (every thread), in clock ticks. */
  readonly ticks: number;
  /** User + system CPU of its children that exited and were waited for, in clock ticks. */
  readonly childTicks: number;
  /** Start time after boot in clock ticks: with the pid, names one process even when pids are reused. */
  readonly startTime: number;
}

/** Parses the text of /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  // Fields after the name, numbered from 3 (state) as in proc(5).
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  const field = (n: number) => Number(f[n - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    ppid: field(4),
    ticks: field(14) + field(15),
    childTicks: field(16) + field(17),
    startTime: field(22),
  };
}

/** /proc/<pid>/stat, or undefined when the process is gone. */
export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Resident memory now and its peak (VmRSS, VmHWM), in kB, from the text of /proc/<pid>/status. */
export function parseStatusMemory(text: string): { rssKb: number; peakRssKb: number } {
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: kb('VmRSS'), peakRssKb: kb('VmHWM') };
}

/** Resident memory now and at its peak, or undefined when the process is gone. */
export function readMemory(pid: number): { rssKb: number; peakRssKb: number } | undefined {
  try {
    return parseStatusMemory(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The command line with its NUL separators as spaces ('' when gone); PostgreSQL puts its process title there. */
export function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** Every live process id. */
export function listPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The live children of `ppid` with their stat. */
export function childrenOf(ppid: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const pid of listPids()) {
    const stat = readStat(pid);
    if (stat?.ppid === ppid) out.push(stat);
  }
  return out;
}

/** One row of /proc/net/tcp or tcp6. */
export interface TcpSocket {
  readonly localPort: number;
  readonly remotePort: number;
  /** `0A` is LISTEN, `01` ESTABLISHED. */
  readonly state: string;
  readonly inode: string;
}

/** Parses /proc/net/tcp or /proc/net/tcp6 (header line first; addresses as hex `ADDR:PORT`). */
export function parseTcpTable(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const port = (address: string) => Number.parseInt(address.split(':').at(-1)!, 16);
    out.push({ localPort: port(f[1]!), remotePort: port(f[2]!), state: f[3]!, inode: f[9]! });
  }
  return out;
}

/** Every TCP socket of the machine's network namespace, IPv4 and IPv6. */
export function tcpSockets(): TcpSocket[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) => {
    try {
      return parseTcpTable(readFileSync(table, 'utf8'));
    } catch {
      return [];
    }
  });
}

/** The socket inodes among a process's open files (empty when gone or not ours to read). */
export function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed between the listing and the readlink
    }
  }
  return inodes;
}

/** The process listening on a TCP port (a broker, a database server), or undefined. */
export function listeningPid(port: number): number | undefined {
  const inodes = new Set(
    tcpSockets()
      .filter((s) => s.state === '0A' && s.localPort === port)
      .map((s) => s.inode),
  );
  if (inodes.size === 0) return undefined;
  for (const pid of listPids()) {
    for (const inode of socketInodes(pid)) if (inodes.has(inode)) return pid;
  }
  return undefined;
}

/** The local ports of a process's TCP connections to `remotePort` (its PostgreSQL connections, say). */
export function connectionPorts(pid: number, remotePort: number, sockets = tcpSockets()): number[] {
  const inodes = socketInodes(pid);
  return sockets.filter((s) => s.remotePort === remotePort && inodes.has(s.inode)).map((s) => s.localPort);
}

/** Busy and total CPU ticks of the whole machine so far (first line of /proc/stat). */
export function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = values.map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total }; // idle and iowait
}

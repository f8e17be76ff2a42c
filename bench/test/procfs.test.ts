import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  connectionPorts,
  listeningPid,
  parseStat,
  parseStatusMemory,
  parseTcpTable,
  readMemory,
  readStat,
} from '../procfs.ts';

describe('procfs parsers', () => {
  it('reads the fields of /proc/<pid>/stat after a command name holding spaces and parentheses', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime … starttime
    const text =
      '4242 (postgres: a (b) c) S 17 4242 4242 0 -1 4194560 10 0 0 0 123 45 6 7 20 0 1 0 98765 1000 50';
    expect(parseStat(text)).toEqual({
      pid: 4242,
      comm: 'postgres: a (b) c',
      ppid: 17,
      ticks: 168,
      childTicks: 13,
      startTime: 98765,
    });
  });

  it('reads VmRSS and VmHWM in kB from /proc/<pid>/status', () => {
    const text = 'Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    expect(parseStatusMemory(text)).toEqual({ rssKb: 102400, peakRssKb: 204800 });
  });

  it('reads ports, state and inode from /proc/net/tcp and tcp6 rows', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 21881 1 0 100 0 0 10 0',
      '   1: 0100007F:C9F2 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 99321 1 0 20 4 30 10 -1',
      '   2: 0000000000000000FFFF00000100007F:4A94 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1',
    ].join('\n');
    expect(parseTcpTable(text)).toEqual([
      { localPort: 5432, remotePort: 0, state: '0A', inode: '21881' },
      { localPort: 51698, remotePort: 5432, state: '01', inode: '99321' },
      { localPort: 19092, remotePort: 0, state: '0A', inode: '5555' },
    ]);
  });
});

describe('procfs on this machine', () => {
  it('reads this process and nothing for a pid that is gone', () => {
    expect(readStat(process.pid)).toMatchObject({ pid: process.pid, ppid: process.ppid });
    const memory = readMemory(process.pid)!;
    expect(memory.peakRssKb).toBeGreaterThanOrEqual(memory.rssKb);
    expect(readStat(2 ** 22 + 1)).toBeUndefined(); // above the kernel's pid_max
  });

  it('finds the process listening on a port and the local ports of its connections to it', async () => {
    const server = createServer((socket) => socket.resume());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    const client = connect(port, '127.0.0.1');
    await once(client, 'connect');
    try {
      expect(listeningPid(port)).toBe(process.pid);
      expect(connectionPorts(process.pid, port)).toEqual([client.localPort]);
    } finally {
      client.destroy();
      server.close();
    }
  });
});

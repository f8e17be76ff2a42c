import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../src/free-port.ts';

describe('freePort', () => {
  it('gives distinct ports below the ephemeral range, each free on every interface', async () => {
    const ephemeralLow = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0],
    );
    const held = createServer();
    const ports: number[] = [];
    try {
      for (let i = 0; i < 20; i++) ports.push(await freePort());
      expect(new Set(ports).size).toBe(ports.length);
      for (const port of ports) expect(port).toBeLessThan(ephemeralLow);
      // Each can be bound on 0.0.0.0, as the services bind it.
      held.listen(ports[0], '0.0.0.0');
      await once(held, 'listening');
    } finally {
      held.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { quietHoursAt } from '../src/domain/quiet-hours.ts';

describe('quiet hours', () => {
  const night = { start: '21:00', end: '08:00', timeZone: 'Europe/Berlin', action: 'hold' as const };

  it.each([
    // Berlin is UTC+1 in November.
    ['2026-11-26T19:59:00Z', false, undefined], // 20:59 local
    ['2026-11-26T20:00:00Z', true, '2026-11-27T07:00:00.000Z'], // 21:00 local, ends 08:00 local
    ['2026-11-27T03:30:45Z', true, '2026-11-27T07:00:00.000Z'], // 04:30 local, past midnight
    ['2026-11-27T07:00:00Z', false, undefined], // 08:00 local: the window has ended
  ])('at %s quiet=%s, ending %s (window wrapping midnight)', (at, quiet, endsAt) => {
    const result = quietHoursAt(new Date(at), night);
    expect(result.quiet).toBe(quiet);
    if (result.quiet) expect(result.endsAt.toISOString()).toBe(endsAt);
  });

  it('reads each time zone on its own clock, however many zones were asked before', () => {
    const at = new Date('2026-11-26T20:30:00Z'); // 21:30 in Berlin, 15:30 in New York, 05:30 in Tokyo
    const zones = { 'Europe/Berlin': true, 'America/New_York': false, 'Asia/Tokyo': true };
    for (let round = 0; round < 2; round++) {
      for (const [timeZone, quiet] of Object.entries(zones)) {
        expect(quietHoursAt(at, { ...night, timeZone }).quiet, `${timeZone}, round ${round}`).toBe(quiet);
      }
    }
  });

  it('handles a window inside one day and an empty window', () => {
    const lunch = { start: '12:00', end: '13:00', timeZone: 'America/New_York', action: 'reject' as const };
    expect(quietHoursAt(new Date('2026-07-01T16:30:00Z'), lunch).quiet).toBe(true); // 12:30 EDT
    expect(quietHoursAt(new Date('2026-07-01T17:30:00Z'), lunch).quiet).toBe(false);
    expect(quietHoursAt(new Date('2026-07-01T16:30:00Z'), { ...lunch, end: '12:00' }).quiet).toBe(false);
  });
});

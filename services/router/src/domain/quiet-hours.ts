/** Quiet hours of an instruction: local wall-clock window in an IANA time zone. */
export interface QuietHours {
  readonly start: string;
  readonly end: string;
  readonly timeZone: string;
  readonly action: 'hold' | 'reject';
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

// One formatter per time zone: building one cost ~40 us, and it ran for every request held by quiet
// hours. Bounded by the IANA zones in use (a few hundred at most).
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** Minutes since local midnight of `now` in `timeZone`. */
function localMinutes(now: Date, timeZone: string): number {
  const parts = formatterFor(timeZone).formatToParts(now);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return part('hour') * 60 + part('minute');
}

/**
 * Whether `now` falls in the quiet window (which may wrap midnight, e.g. 21:00–08:00), and when it
 * ends. The end is computed in whole minutes from now, so a DST change inside the window can shift
 * it by an hour — acceptable for a hold, and never earlier than the window's local end minus an hour.
 */
export function quietHoursAt(now: Date, quiet: QuietHours): { quiet: false } | { quiet: true; endsAt: Date } {
  const start = minutes(quiet.start);
  const end = minutes(quiet.end);
  if (start === end) return { quiet: false };
  const local = localMinutes(now, quiet.timeZone);
  const inside = start < end ? local >= start && local < end : local >= start || local < end;
  if (!inside) return { quiet: false };
  const untilEnd = (end - local + 24 * 60) % (24 * 60);
  const endsAt = new Date(now.getTime() + untilEnd * 60_000);
  endsAt.setUTCSeconds(0, 0);
  return { quiet: true, endsAt };
}

// The demo's human output while it runs: one progress bar per stage (redrawn in place on a terminal,
// a few plain lines otherwise) and the story lines (outages, breaker changes) between them.
import { MultiBar, type SingleBar } from 'cli-progress';

export const stages = ['routing', 'dispatch', 'receipts', 'webhooks', 'audit'] as const;
export type Stage = (typeof stages)[number];

/** What each stage counts, after "value/total". */
const units: Record<Stage, string> = {
  routing: 'requests routed',
  dispatch: 'accepted messages handed to a carrier',
  receipts: 'accepted messages with a final status',
  webhooks: 'final statuses delivered by webhook',
  audit: 'processing events in the audit ledgers',
};

export interface StageProgress {
  value: number;
  total: number;
}

/** Prints nothing when `quiet` (--json): the story is for people. */
export class Story {
  readonly #out: NodeJS.WriteStream;
  readonly #quiet: boolean;
  readonly #started = performance.now();
  readonly #multi: MultiBar | undefined;
  readonly #bars = new Map<Stage, SingleBar>();
  readonly #done = new Set<Stage>();
  #lastPlain = performance.now();
  /** When the campaign began: rates count from here, not from the services' start. */
  #clock = performance.now();

  constructor(options: { out: NodeJS.WriteStream; quiet: boolean }) {
    this.#out = options.out;
    this.#quiet = options.quiet;
    if (!this.#quiet && this.#out.isTTY)
      this.#multi = new MultiBar({
        stream: this.#out,
        format: '{stage} [{bar}] {percentage}%  {value}/{total} {unit}  {rate}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
        fps: 10,
      });
  }

  /** Seconds since the story began. */
  get elapsed(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** Rates count from now on (call it when the first request is produced). */
  startClock(): void {
    this.#clock = performance.now();
  }

  /** A plain line (no timestamp), above the bars once they are drawn. */
  say(text: string): void {
    if (this.#quiet) return;
    if (this.#multi && this.#bars.size > 0) this.#multi.log(`${text}\n`);
    else this.#out.write(`${text}\n`);
  }

  /** A story line: when it happened and in which cell. */
  event(cell: string, text: string): void {
    this.say(`${this.elapsed.toFixed(1).padStart(6)}s  ${cell}  ${text}`);
  }

  /** Redraws the bars (terminal); off a terminal, prints a status line now and then (see `every`). */
  progress(values: Record<Stage, StageProgress>): void {
    if (this.#quiet) return;
    for (const stage of stages) {
      const { value, total } = values[stage];
      const payload = { stage: stage.padEnd(8), unit: units[stage], rate: this.#rate(value) };
      if (this.#multi) {
        const bar = this.#bars.get(stage);
        if (!bar) this.#bars.set(stage, this.#multi.create(Math.max(total, 1), value, payload));
        else {
          bar.setTotal(Math.max(total, 1));
          bar.update(value, payload);
        }
      }
    }
    // Off a terminal, a few lines: every 15 s at first, then further apart as the run goes on.
    const every = Math.max(15_000, (performance.now() - this.#started) / 4);
    if (!this.#multi && performance.now() - this.#lastPlain > every) {
      this.#lastPlain = performance.now();
      const line = stages
        .filter((s) => !this.#done.has(s))
        .map((s) => `${s} ${values[s].value}/${values[s].total}`)
        .join(', ');
      if (line) this.#out.write(`${this.elapsed.toFixed(1).padStart(6)}s  in progress: ${line}\n`);
    }
  }

  /** A stage is complete (its total is final): its bar shows it, or a plain line says it. */
  complete(stage: Stage, { value, total }: StageProgress): void {
    if (this.#quiet || this.#done.has(stage)) return;
    this.#done.add(stage);
    const bar = this.#bars.get(stage);
    if (bar) {
      bar.setTotal(Math.max(total, 1));
      bar.update(value, { rate: this.#rate(value) });
    } else if (!this.#multi)
      this.#out.write(
        `${this.elapsed.toFixed(1).padStart(6)}s  ${stage.padEnd(8)} done: ${value}/${total} ${units[stage]}  (${this.#rate(value)})\n`,
      );
  }

  /** Leaves the bars as they are (final) and gives the terminal back. */
  stop(): void {
    this.#multi?.stop();
  }

  #rate(value: number): string {
    const seconds = (performance.now() - this.#clock) / 1000;
    return seconds > 0 ? `${Math.round(value / seconds)}/s` : '';
  }
}

// The CLI's status line on stderr, for a person at a terminal: while EC2's modify rate holds
// the run, what it waits for and how long is left, and how many account-regions are swept.
// It is redrawn in place at most a few times a second and erased at the end. When stderr is
// not a terminal it writes nothing of its own, and it never writes to stdout.
import type { PacingProgress } from '../pipeline/apply.ts';

export interface StatusStream {
  write: (text: string) => void;
  isTty: boolean;
  /** The terminal's width: a longer line would wrap, and a wrapped line cannot be redrawn in place. */
  columns?: number | undefined;
}

/** Back to the start of the line, and erase it. */
const ERASE = '\r\x1b[K';
/** At most four draws a second: a line that changes faster cannot be read. */
export const MIN_REDRAW_MS = 250;

const count = (n: number) => n.toLocaleString('en-US');

/** "~40 s", "~13 min", "~2 h 5 min": an estimate, so no more precise than that. */
export const roughly = (ms: number): string => {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `~${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `~${minutes} min`;
  return `~${Math.floor(minutes / 60)} h ${minutes % 60} min`;
};

/**
 * What the line says now; empty when there is nothing to say. What matters most comes first,
 * where a narrow terminal does not cut it: the wait left, then where, then the sweep's count.
 */
export const statusText = (shards: { done: number; total: number } | undefined, waits: PacingProgress[]): string => {
  const parts: string[] = [];
  // Account-regions wait side by side: the run waits as long as the longest.
  const [longest, ...others] = [...waits].sort((a, b) => b.msLeft - a.msLeft);
  if (longest) {
    const { shard, sent, total, msLeft } = longest;
    const more = others.length === 0 ? '' : ` (and ${others.length} other account-region${others.length === 1 ? '' : 's'})`;
    parts.push(`waiting for EC2's modify rate, ${roughly(msLeft)} left: ${count(sent)} of ${count(total)} changes in ${shard.accountId} ${shard.region}${more}`);
  }
  if (shards) parts.push(`swept ${count(shards.done)} of ${count(shards.total)} account-regions`);
  return parts.join('; ');
};

export class ProgressLine {
  #shards: { done: number; total: number } | undefined;
  readonly #waits = new Map<string, PacingProgress>();
  #shown = false;
  #lastDraw = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ended = false;

  constructor(
    private readonly stream: StatusStream,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Everything else the CLI writes to stderr: the line is erased first and comes back after. */
  readonly write = (text: string): void => {
    this.#erase();
    this.stream.write(text);
    this.#schedule();
  };

  /** The sweep's progress over account-regions (SweepOptions.onProgress). */
  readonly swept = (done: number, total: number): void => {
    this.#shards = { done, total };
    this.#schedule();
  };

  /** One account-region's modifies at EC2's pace (SweepOptions.onPacing). */
  readonly pacing = (progress: PacingProgress): void => {
    const key = `${progress.shard.accountId}/${progress.shard.region}`;
    if (progress.msLeft > 0) this.#waits.set(key, progress);
    else this.#waits.delete(key);
    this.#schedule();
  };

  /** Erases the line for good: before the report, and at the end of a run however it ends. */
  end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#erase();
  }

  #erase() {
    if (!this.#shown) return;
    this.stream.write(ERASE);
    this.#shown = false;
  }

  /** Draws now if the last draw is old enough, else once when it is, with the state of then. */
  #schedule() {
    if (!this.stream.isTty || this.#ended || this.#timer !== undefined) return;
    const wait = this.#lastDraw + MIN_REDRAW_MS - this.now();
    if (wait <= 0) return this.#draw();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, wait);
    // The line never keeps the process alive.
    this.#timer.unref?.();
  }

  #draw() {
    this.#lastDraw = this.now();
    const text = statusText(this.#shards, [...this.#waits.values()]);
    if (!text) return this.#erase();
    // One write: the erase and the new text reach the terminal together, without a flicker.
    // A terminal that does not tell its width (0, say) is taken to be 80 wide.
    const columns = this.stream.columns !== undefined && this.stream.columns > 0 ? this.stream.columns : 80;
    const width = columns - 1;
    this.stream.write(`${ERASE}${text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text}`);
    this.#shown = true;
  }
}

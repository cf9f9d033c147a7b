// Client-side rate limiting that mirrors an AWS token bucket, so a big shard waits for
// tokens instead of spending its retries on RequestLimitExceeded.

import { sleep } from './time.ts';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep,
};

/**
 * EC2 gives ModifyInstanceMetadataOptions its own bucket per account-region: a burst of
 * 100, refilled at 5 a second (DESIGN.md §5).
 */
export const MODIFY_METADATA_BUCKET = { capacity: 100, refillPerSecond: 5 } as const;

export class TokenBucket {
  #tokens: number;
  #last: number;
  #waitedMs = 0;
  #queue: Promise<void> = Promise.resolve();

  /**
   * Full unless told otherwise: a run that follows one which just spent the account-region's
   * bucket (the next invocation of a continued shard) starts it empty.
   */
  constructor(
    private readonly capacity: number,
    private readonly refillPerSecond: number,
    private readonly clock: Clock = systemClock,
    initialTokens: number = capacity,
  ) {
    this.#tokens = Math.min(capacity, Math.max(0, initialTokens));
    this.#last = clock.now();
  }

  /** Time callers have spent waiting for tokens, in all: the part of a run that EC2's pace decides. */
  waitedMs(): number {
    return this.#waitedMs;
  }

  /** Tokens available now, refill included (for estimates: taking still goes through take()). */
  available(): number {
    const elapsed = (this.clock.now() - this.#last) / 1000;
    return Math.min(this.capacity, this.#tokens + elapsed * this.refillPerSecond);
  }

  /**
   * How long `count` more tokens take from now, at this bucket's refill: 0 while the bucket
   * holds them. What a run still has to wait for its changes, for a person watching it.
   */
  msFor(count: number): number {
    return Math.max(0, Math.ceil(((count - this.available()) * 1000) / this.refillPerSecond));
  }

  /** Resolves when a token is taken; callers are served in the order they asked. */
  take(): Promise<void> {
    const turn = this.#queue.then(() => this.#takeInTurn());
    this.#queue = turn;
    return turn;
  }

  async #takeInTurn(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#last) / 1000) * this.refillPerSecond);
      this.#last = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      const wait = Math.ceil(((1 - this.#tokens) * 1000) / this.refillPerSecond);
      this.#waitedMs += wait;
      await this.clock.sleep(wait);
    }
  }
}

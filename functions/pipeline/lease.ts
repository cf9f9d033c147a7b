// One writer per account-region: a run that may change instances holds the account-region's
// lease while it reads, decides and changes, so that a sweep shard and an event (or two
// shards, after a retry) never change the same account-region at the same time. The lease
// expires by itself, so a holder that crashed blocks the account-region only until then.
import { describeError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import type { Shard } from '../domain/model.ts';
import { systemClock, type Clock } from '../domain/token-bucket.ts';
import type { LeaseRecord, LeaseStore } from './ports.ts';

/** How often a run that waits looks at the lease again. */
const POLL_MS = 1_000;
/**
 * No holder runs longer than a Lambda function's 15 minutes and the margin its lease adds: a
 * lease that claims to last longer than this from now was not written by a holder of ours, and
 * is not honoured, so that no stray object in the bucket can block an account-region for good.
 */
export const MAX_LEASE_MS = 20 * 60_000;

export const leaseKey = (shard: Shard) => `leases/${shard.accountId}/${shard.region}`;

export interface LeaseOptions {
  store: LeaseStore;
  /** Who asks, as the lease and the logs name it (e.g. "sweep-shard 6f1c…"). */
  holder: string;
  /**
   * How long the lease lasts unless it is released: at least the holder's own time left, so
   * that it never expires under a live holder, and a crashed holder's lease ends soon after it.
   */
  ttlMs: number;
  /** How long to wait for another holder to let go before giving up (0: do not wait). */
  waitMs: number;
  clock?: Clock | undefined;
}

export interface HeldLease {
  record: LeaseRecord;
  /** How long this run waited for it. */
  waitedMs: number;
  /** The expired lease of another holder this one replaced (a holder that crashed or ran out of time). */
  tookOverFrom?: LeaseRecord | undefined;
  /** Lets go; never throws (a lease that cannot be released expires by itself). */
  release(): Promise<void>;
}

export interface BusyLease {
  /** Who held the account-region when this run gave up, and until when; unknown when the lease could not be read. */
  holder: string;
  expiresAt: string;
  waitedMs: number;
}

export type LeaseAttempt = { status: 'held'; lease: HeldLease } | { status: 'busy'; busy: BusyLease };

const iso = (ms: number) => new Date(ms).toISOString();

/** Free to take: released, expired, lasting implausibly long, or not a lease record at all. */
const isFree = (record: LeaseRecord | undefined, now: number) => {
  if (record === undefined || record.releasedAt !== undefined) return true;
  const expiresAt = Date.parse(record.expiresAt);
  return !(expiresAt > now) || expiresAt - now > MAX_LEASE_MS;
};

/**
 * Takes the account-region's lease: creates it where there is none, or replaces one that is
 * free, each by a conditional write that only one contender can win. A lease another run
 * holds is looked at again until it is free or `waitMs` has passed. Throws when the store
 * cannot be read or written.
 */
export const takeLease = async (shard: Shard, options: LeaseOptions, log: Log): Promise<LeaseAttempt> => {
  const { store, holder } = options;
  const clock = options.clock ?? systemClock;
  const key = leaseKey(shard);
  const started = clock.now();
  let held: LeaseRecord | undefined;
  let slept = false;

  const taken = (record: LeaseRecord, version: string, tookOverFrom?: LeaseRecord): LeaseAttempt => {
    const waitedMs = clock.now() - started;
    const release = async () => {
      try {
        const released = await store.replace(key, { ...record, releasedAt: iso(clock.now()) }, version);
        if (released === undefined) log.warn('lease lost before it was released', { ...shard, holder, reason: 'another run took it over after it expired' });
      } catch (error) {
        log.warn('lease not released, it expires by itself', { ...shard, holder, expiresAt: record.expiresAt, reason: describeError(error) });
      }
    };
    if (tookOverFrom) log.warn('lease taken over', { ...shard, holder, from: tookOverFrom.holder, expiredAt: tookOverFrom.expiresAt });
    if (slept) log.info('lease taken after waiting', { ...shard, holder, waitedMs });
    return { status: 'held', lease: { record, waitedMs, tookOverFrom, release } };
  };

  for (;;) {
    const now = clock.now();
    const record: LeaseRecord = { holder, takenAt: iso(now), expiresAt: iso(now + Math.min(options.ttlMs, MAX_LEASE_MS)) };
    const created = await store.create(key, record);
    if (created !== undefined) return taken(record, created);
    const current = await store.read(key);
    // A create whose answer was lost and retried by the SDK fails on its own write: that lease is this run's.
    if (current?.record?.holder === holder && current.record.releasedAt === undefined) return taken(current.record, current.version);
    if (current && isFree(current.record, now)) {
      if (current.record === undefined) log.warn('lease unreadable, replaced', { ...shard, holder, key });
      const replaced = await store.replace(key, record, current.version);
      const expired = current.record !== undefined && current.record.releasedAt === undefined;
      if (replaced !== undefined) return taken(record, replaced, expired ? current.record : undefined);
      // Another contender replaced it first: it holds the lease now.
      held = (await store.read(key))?.record;
    } else if (current?.record) {
      held = current.record;
    }
    const left = started + options.waitMs - clock.now();
    if (left <= 0) {
      return { status: 'busy', busy: { holder: held?.holder ?? 'unknown', expiresAt: held?.expiresAt ?? 'unknown', waitedMs: clock.now() - started } };
    }
    await clock.sleep(Math.min(POLL_MS, left));
    slept = true;
  }
};

import { describe, expect, it } from 'vitest';
import { MODIFY_METADATA_BUCKET, TokenBucket, type Clock } from '../../functions/domain/token-bucket.ts';

/** Time moves only when someone sleeps: deterministic, and instant. */
const virtualClock = () => {
  let t = 0;
  const clock: Clock = {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
  };
  return { clock, advance: (ms: number) => (t += ms), now: () => t };
};

const takeAll = async (bucket: TokenBucket, n: number, now: () => number) => {
  const grantedAt: number[] = [];
  await Promise.all(Array.from({ length: n }, () => bucket.take().then(() => grantedAt.push(now()))));
  return grantedAt;
};

describe('token bucket for ModifyInstanceMetadataOptions', () => {
  it('grants a burst of 100 at once, then one token every 200 ms (5 a second)', async () => {
    const { clock, now } = virtualClock();
    const bucket = new TokenBucket(MODIFY_METADATA_BUCKET.capacity, MODIFY_METADATA_BUCKET.refillPerSecond, clock);

    const grantedAt = await takeAll(bucket, 250, now);

    expect(grantedAt.slice(0, 100)).toEqual(Array(100).fill(0));
    expect(grantedAt.slice(100, 103)).toEqual([200, 400, 600]);
    // 150 beyond the burst at 5 a second: 30 s of (virtual) waiting, no more.
    expect(grantedAt.at(-1)).toBe(30_000);
    expect(grantedAt).toEqual([...grantedAt].sort((a, b) => a - b));
  });

  it('starts empty after a run that spent it, and counts the time its callers waited', async () => {
    const { clock, now } = virtualClock();
    const bucket = new TokenBucket(MODIFY_METADATA_BUCKET.capacity, MODIFY_METADATA_BUCKET.refillPerSecond, clock, 0);

    expect(bucket.available()).toBe(0);
    const grantedAt = await takeAll(bucket, 10, now);

    expect(grantedAt).toEqual([200, 400, 600, 800, 1_000, 1_200, 1_400, 1_600, 1_800, 2_000]);
    expect(bucket.waitedMs()).toBe(2_000);
  });

  it('refills while idle, but never beyond its capacity', async () => {
    const { clock, advance, now } = virtualClock();
    const bucket = new TokenBucket(100, 5, clock);
    await takeAll(bucket, 100, now);

    advance(2_000);
    const afterTwoSeconds = await takeAll(bucket, 11, now);
    expect(afterTwoSeconds.filter((t) => t === 2_000)).toHaveLength(10);

    advance(3_600_000);
    const afterAnHour = await takeAll(bucket, 101, now);
    expect(afterAnHour.filter((t) => t === afterAnHour[0])).toHaveLength(100);
    expect(afterAnHour.at(-1)).toBe((afterAnHour[0] ?? 0) + 200);
  });

  it('says how long the next takes will wait in all: nothing within its tokens, the refill beyond them', async () => {
    const { clock, now } = virtualClock();
    const bucket = new TokenBucket(MODIFY_METADATA_BUCKET.capacity, MODIFY_METADATA_BUCKET.refillPerSecond, clock);

    expect(bucket.msFor(100)).toBe(0);
    expect(bucket.msFor(4_000)).toBe(780_000);
    await takeAll(bucket, 150, now);
    // 150 takes: the burst, then 50 at 5 a second; the next 10 need 2 s of refill.
    expect(now()).toBe(10_000);
    expect(bucket.msFor(10)).toBe(2_000);
    const grantedAt = await takeAll(bucket, 10, now);
    expect(grantedAt.at(-1)).toBe(12_000);
  });
});

// Two runs at once (issue 13, finding 10): the deployed sweep's shards and the event function
// hold an account-region's lease in the sweep bucket (S3 conditional writes, served by moto)
// while they may change it. Through the handlers, as Step Functions and EventBridge call them,
// and through the lease itself for what needs a clock: waiting, and two contenders.
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeLeaseStore } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { LeaseBusyError } from '../../functions/domain/errors.ts';
import { leaseKey, MAX_LEASE_MS, takeLease, type LeaseOptions } from '../../functions/pipeline/lease.ts';
import type { LeaseRecord } from '../../functions/pipeline/ports.ts';
import type { ShardDigest } from '../../functions/report/digest.ts';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { runInstancesEvent } from '../support/events.ts';
import { captureLog, useMoto } from '../support/moto.ts';
import { readInstance, seedOrganization, testPolicy } from '../support/scenario.ts';
import { prepareDeployment, useSweepFunctions } from '../support/sweep-functions.ts';

const { aws } = useMoto();
const BUCKET = 'imds-remediator-test-lease';
const REGION = 'us-east-1';
const SHARD = { accountId: MANAGEMENT_ACCOUNT, region: REGION };
// A function that does not wait for a held lease: the second of two runs at once gives up at once.
beforeAll(() => {
  process.env.LEASE_WAIT_SECONDS = '0';
});
afterAll(() => {
  delete process.env.LEASE_WAIT_SECONDS;
});
const handlers = useSweepFunctions('apply', BUCKET);
/** What Lambda tells a function that has just started. */
const fullTime = { getRemainingTimeInMillis: () => 900_000 };

const s3 = () => new S3Client({});
const putLease = (record: LeaseRecord) =>
  s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: leaseKey(SHARD), Body: JSON.stringify(record) }));
const readLease = async () => {
  const out = await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: leaseKey(SHARD) }));
  return JSON.parse((await out.Body?.transformToString()) ?? '{}') as LeaseRecord;
};
const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

const seed = async () => {
  const local = aws();
  const world = await seedOrganization(local, []);
  await prepareDeployment(BUCKET, testPolicy());
  const plain = world.seeded.filter((s) => s.accountId === SHARD.accountId && s.region === REGION && s.kind === 'plain').map((s) => s.instanceId);
  return { local, plain };
};

const shardOnce = async (apply = true) => (await handlers.shard({ shard: SHARD, apply }, fullTime)) as ShardDigest;

describe('sweep-shard holds the lease of its account-region', () => {
  it('of two invocations of one account-region at once, one changes it and the other skips it and says so', async () => {
    const { local, plain } = await seed();

    const digests = await Promise.all([shardOnce(), shardOnce()]);

    const [changer, skipper] = [...digests].sort((a, b) => b.changed - a.changed);
    expect(changer).toMatchObject({ changed: 3, errorCount: 0 });
    expect(skipper).toMatchObject({ changed: 0, errorCount: 1, byVerdict: {} });
    expect(skipper?.errors[0]?.message).toMatch(/^not swept: another run \(sweep-shard [0-9a-f-]{36}\) holds this account-region until \S+, and did not let go in 0 s; the next sweep takes it up$/);
    for (const id of plain) expect(await readInstance(local, SHARD.accountId, REGION, id)).toMatchObject({ httpTokens: 'required' });
    expect(await readLease()).toMatchObject({ holder: expect.stringMatching(/^sweep-shard /), releasedAt: expect.any(String) });
  });

  it('takes over the expired lease of a holder that crashed, and releases it when done', async () => {
    await seed();
    await putLease({ holder: 'sweep-shard crashed', takenAt: minutesFromNow(-20), expiresAt: minutesFromNow(-4) });

    const digest = await shardOnce();

    expect(digest).toMatchObject({ changed: 3, errorCount: 0 });
    const lease = await readLease();
    expect(lease.holder).toMatch(/^sweep-shard [0-9a-f-]{36}$/);
    expect(lease.releasedAt).toBeDefined();
  });

  it('skips an account-region another run holds, changing nothing there, and reports who holds it', async () => {
    const { local, plain } = await seed();
    await putLease({ holder: 'on-instance-event 1f0c', takenAt: minutesFromNow(-1), expiresAt: minutesFromNow(4) });

    const digest = await shardOnce();

    expect(digest).toMatchObject({ changed: 0, errorCount: 1 });
    expect(digest.errors[0]?.message).toContain('another run (on-instance-event 1f0c) holds this account-region');
    for (const id of plain) expect(await readInstance(local, SHARD.accountId, REGION, id)).toMatchObject({ httpTokens: 'optional' });
    expect(await readLease()).toMatchObject({ holder: 'on-instance-event 1f0c' });
  });

  it('does not honour a lease that claims to last longer than any holder can run', async () => {
    await seed();
    await putLease({ holder: 'stray', takenAt: minutesFromNow(0), expiresAt: minutesFromNow(24 * 60) });

    expect(await shardOnce()).toMatchObject({ changed: 3, errorCount: 0 });
  });

  it('takes no lease for a plan, which changes nothing', async () => {
    await seed();
    await putLease({ holder: 'on-instance-event 1f0c', takenAt: minutesFromNow(-1), expiresAt: minutesFromNow(4) });

    expect(await shardOnce(false)).toMatchObject({ changed: 0, errorCount: 0, toChange: 3 });
  });
});

describe('on-instance-event holds the lease of its account-region', () => {
  it('throws LeaseBusyError, which Lambda retries, while another run holds the account-region', async () => {
    const { local } = await seed();
    const [id = ''] = await local.runInstances(SHARD.accountId, REGION, {});
    await putLease({ holder: 'sweep-shard 7a2b', takenAt: minutesFromNow(-1), expiresAt: minutesFromNow(10) });

    await expect(handlers.event(runInstancesEvent(SHARD.accountId, REGION, [id]), fullTime)).rejects.toBeInstanceOf(LeaseBusyError);

    expect(await readInstance(local, SHARD.accountId, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });

  it('takes the lease, enforces, and releases it', async () => {
    const { local } = await seed();
    const [id = ''] = await local.runInstances(SHARD.accountId, REGION, {});

    const result = await handlers.event(runInstancesEvent(SHARD.accountId, REGION, [id]), fullTime);

    expect(result).toMatchObject({ status: 'handled', summary: { changed: 1 } });
    expect(await readInstance(local, SHARD.accountId, REGION, id)).toMatchObject({ httpTokens: 'required' });
    expect(await readLease()).toMatchObject({ holder: expect.stringMatching(/^on-instance-event /), releasedAt: expect.any(String) });
  });
});

describe('the lease itself, in the sweep bucket', () => {
  const options = (holder: string, waitMs: number): LeaseOptions => ({
    store: composeLeaseStore(readEnvironment(process.env), BUCKET),
    holder,
    ttlMs: 60_000,
    waitMs,
  });

  it('waits for a holder that lets go within the wait, then takes it', async () => {
    await prepareDeployment(BUCKET, testPolicy());
    const { log, lines } = captureLog();
    const first = await takeLease(SHARD, options('first', 0), log);
    if (first.status !== 'held') throw new Error('the first run did not get the lease');

    const second = takeLease(SHARD, options('second', 10_000), log);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await first.lease.release();
    const attempt = await second;

    expect(attempt.status).toBe('held');
    expect(attempt.status === 'held' && attempt.lease.waitedMs).toBeGreaterThanOrEqual(1_000);
    expect(await readLease()).toMatchObject({ holder: 'second' });
    expect(lines.filter((l) => l.message === 'lease taken after waiting').map((l) => l.holder)).toEqual(['second']);
  });

  it('lets exactly one of two contenders take an expired lease', async () => {
    await prepareDeployment(BUCKET, testPolicy());
    await putLease({ holder: 'crashed', takenAt: minutesFromNow(-20), expiresAt: minutesFromNow(-1) });
    const { log, lines } = captureLog();

    const attempts = await Promise.all([takeLease(SHARD, options('a', 0), log), takeLease(SHARD, options('b', 0), log)]);

    expect(attempts.map((a) => a.status).sort()).toEqual(['busy', 'held']);
    const winner = (await readLease()).holder;
    expect(attempts.find((a) => a.status === 'busy')).toMatchObject({ busy: { holder: winner } });
    expect(lines.filter((l) => l.message === 'lease taken over')).toEqual([expect.objectContaining({ holder: winner, from: 'crashed' })]);
  });

  it('never lasts longer than any holder can run', async () => {
    await prepareDeployment(BUCKET, testPolicy());
    const { log } = captureLog();

    const attempt = await takeLease(SHARD, { ...options('long', 0), ttlMs: 24 * 3_600_000 }, log);

    expect(attempt.status).toBe('held');
    const lease = await readLease();
    expect(Date.parse(lease.expiresAt) - Date.parse(lease.takenAt)).toBe(MAX_LEASE_MS);
  });
});

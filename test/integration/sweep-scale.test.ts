// The sweep's state machine at organization scale: the state carries keys, not lists, and the
// report reads the Map's results from the sweep bucket, however many account-regions there are.
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import type { SweepReport } from '../../functions/report/aggregate.ts';
import { REPORT_ERRORS_MAX } from '../../functions/report/aggregate.ts';
import type { ShardDigest } from '../../functions/report/digest.ts';
import { runDistributedMap } from '../support/distributed-map.ts';
import { useMoto } from '../support/moto.ts';
import { prepareDeployment, useSweepFunctions } from '../support/sweep-functions.ts';
import { testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();
const BUCKET = 'imds-remediator-test-scale';
const STATE_LIMIT_BYTES = 256 * 1024;
const functions = useSweepFunctions('plan', BUCKET);

const s3 = () => new S3Client({});
// No scope.regions: every region each account has enabled.
const prepare = () => prepareDeployment(BUCKET, testPolicy({ scope: {} }));

describe('the sweep at organization scale', () => {
  it('plans more account-regions than the state could hold, carrying only their key', async () => {
    // moto enables 24 regions: 16 accounts make more account-regions than the 350 that
    // fitted in the state when the shards travelled in it.
    const members = await aws().createOrganization(Array.from({ length: 15 }, (_, n) => `member-${n}`));
    await prepare();

    const planned = JSON.parse(JSON.stringify(await functions.plan({ source: 'schedule' }))) as { shardsKey: string; plan: unknown };

    const object = await s3().send(new GetObjectCommand({ Bucket: BUCKET, Key: planned.shardsKey }));
    const items = JSON.parse((await object.Body?.transformToString()) ?? '[]') as Array<{ accountId: string; region: string }>;
    expect(items.length).toBeGreaterThan(350);
    expect(new Set(items.map((s) => `${s.accountId}/${s.region}`)).size).toBe(items.length);
    expect(new Set(items.map((s) => s.accountId))).toEqual(new Set([MANAGEMENT_ACCOUNT, ...members]));
    expect(Buffer.byteLength(JSON.stringify(planned))).toBeLessThan(1024);
    expect(planned.plan).toMatchObject({ accounts: members.length + 1, shards: items.length, errorCount: 0 });
  });

  it('reports 1,000 accounts × 17 regions from the Map results in S3, its own result within the state limit', async () => {
    await prepare();
    const regions = Array.from({ length: 17 }, (_, n) => `ap-test-${n + 1}`);
    const shards = Array.from({ length: 1000 }, (_, a) => String(100000000000 + a)).flatMap((accountId) =>
      regions.map((region) => ({ accountId, region })),
    );
    const shardsKey = 'shards/scale-test.json';
    await s3().send(new PutObjectCommand({ Bucket: BUCKET, Key: shardsKey, Body: JSON.stringify(shards) }));
    // Each shard: 58 instances; every 10th has one shard error; every 400th fails as a whole.
    const index = new Map(shards.map((s, n) => [`${s.accountId}/${s.region}`, n]));
    const sweepShard = async (input: unknown): Promise<ShardDigest & { done: boolean }> => {
      const { shard } = input as { shard: { accountId: string; region: string } };
      const n = index.get(`${shard.accountId}/${shard.region}`) ?? -1;
      if (n % 400 === 0) throw new Error('Task timed out after 900.00 seconds');
      const errors = n % 10 === 5 ? [{ ...shard, message: 'cannot read MetadataNoToken: ThrottlingException' }] : [];
      const byVerdict = { compliant: 50, enforce: 5, 'blocked-v1-in-use': 1, 'insufficient-evidence': 2 };
      const blocked = [{ instanceId: `i-${n.toString(16).padStart(17, '0')}`, noTokenCalls: n }];
      return { shard, byVerdict, changed: 0, errorCount: errors.length, errors, toChange: 5, nonCompliant: 8, blocked, done: true };
    };
    const results = await runDistributedMap({ bucket: BUCKET, state: { shardsKey, apply: false }, runItem: sweepShard });
    const plan = { accounts: 1000, shards: shards.length, errors: [], errorCount: 0 };

    const report = (await functions.report({ apply: false, plan, results })) as SweepReport;

    const failed = Math.ceil(shards.length / 400);
    const answered = shards.length - failed;
    expect(report.summary).toMatchObject({
      byVerdict: { compliant: 50 * answered, enforce: 5 * answered, 'blocked-v1-in-use': answered, 'insufficient-evidence': 2 * answered },
      shards: 17_000,
      accounts: 1000,
      errors: shards.length / 10 + failed,
    });
    expect(report.errors).toHaveLength(REPORT_ERRORS_MAX);
    expect(report.errors.at(-1)?.message).toBe(`…and ${shards.length / 10 + failed - REPORT_ERRORS_MAX + 1} more errors: see the sweep-shard and sweep-report logs`);
    // Every account-region left unswept is named, before any instance-level error.
    expect(report.errors.slice(0, failed)).toEqual(
      shards.filter((_, n) => n % 400 === 0).map((s) => ({ ...s, message: 'shard execution failed: Error: Task timed out after 900.00 seconds' })),
    );
    expect(Buffer.byteLength(JSON.stringify(report))).toBeLessThan(STATE_LIMIT_BYTES);
    // The Slack summary counts every instance and names the heaviest IMDSv1 users organization-wide.
    const summary = functions.slack.received.at(-1)?.body as { text: string; blocks: Array<{ text?: { text: string } }> };
    expect(summary.text).toBe(
      `IMDSv2 sweep (plan (nothing changed)): ${58 * answered} instances in 1000 accounts, 0 changed, ${5 * answered} still to change, ` +
        `${answered} blocked by IMDSv1 use, ${shards.length / 10 + failed} errors`,
    );
    const blockedList = summary.blocks.map((b) => b.text?.text ?? '').find((t) => t.startsWith(`*Blocked: IMDSv1 still in use (${answered})*`));
    expect(blockedList?.split('\n')[1]).toBe(`• \`i-${(shards.length - 1).toString(16).padStart(17, '0')}\` 100000000999 ap-test-17: ${shards.length - 1} IMDSv1 calls`);
    expect(blockedList).toMatch(/\n…and \d+ more$/);
  }, 120_000);
});

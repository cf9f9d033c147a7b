import { describe, expect, it } from 'vitest';
import { MAX_SHARDS_IN_STATE, type SweepPlanOutput } from '../../functions/handlers/sweep-plan.ts';
import type { InstanceResult, ShardResult, Verdict } from '../../functions/core/model.ts';
import { VERDICTS } from '../../functions/core/model.ts';
import {
  DIGEST_ERRORS_MAX,
  DIGEST_MESSAGE_MAX,
  digestShard,
  PLAN_ERRORS_MAX,
  reportFromDigests,
  summarizePlan,
  type ShardDigest,
} from '../../functions/core/shard-digest.ts';
import { buildReport } from '../../functions/core/sweep-report.ts';

const STATE_LIMIT_BYTES = 256 * 1024;

const instance = (accountId: string, region: string, n: number, verdict: Verdict, changed = false): InstanceResult => ({
  accountId,
  region,
  instanceId: `i-${String(n).padStart(17, '0')}`,
  verdict,
  reason: verdict === 'error' ? 'ModifyInstanceMetadataOptions failed: UnauthorizedOperation' : 'because',
  noTokenCalls: 0,
  observedDays: 14,
  hopLimit: 1,
  changed,
});

const shardResults = (): ShardResult[] => [
  {
    shard: { accountId: '111111111111', region: 'us-east-1' },
    instances: [
      instance('111111111111', 'us-east-1', 1, 'enforce', true),
      instance('111111111111', 'us-east-1', 2, 'blocked-v1-in-use'),
      instance('111111111111', 'us-east-1', 3, 'error'),
      instance('111111111111', 'us-east-1', 4, 'compliant'),
    ],
    errors: [{ accountId: '111111111111', region: 'us-east-1', message: 'cannot read MetadataNoToken: ThrottlingException' }],
  },
  {
    shard: { accountId: '222222222222', region: 'eu-west-1' },
    instances: [instance('222222222222', 'eu-west-1', 5, 'fix-hop-limit', true), instance('222222222222', 'eu-west-1', 6, 'exempt')],
    errors: [],
  },
  { shard: { accountId: '222222222222', region: 'us-east-1' }, instances: [], errors: [] },
];

describe('shard digests', () => {
  it('sum to the same summary as the full report of the same shards', () => {
    const shards = shardResults();
    const plan = {
      shards: shards.map((s) => s.shard),
      accounts: 3,
      errors: [{ accountId: '333333333333', region: null, message: 'cannot reach account: AccessDenied' }],
    };

    const fromDigests = reportFromDigests('apply', summarizePlan(plan), shards.map(digestShard), []);

    expect(fromDigests.summary).toEqual(buildReport('apply', plan, shards).summary);
    expect(fromDigests.summary).toMatchObject({ changed: 2, errors: 3, shards: 3, accounts: 3 });
  });

  it('count shards that failed or never answered in the Map as errors', () => {
    const shards = shardResults();
    const plan = { accounts: 2, shards: 5, errors: [], errorCount: 0 };

    const report = reportFromDigests('plan', plan, shards.slice(0, 2).map(digestShard), [
      { shard: undefined, message: 'shard execution failed: States.Timeout' },
    ]);

    expect(report.summary.errors).toBe(2 + 1 + 2); // the first shard's two, the failed one, two missing
    expect(report.errors.map((e) => e.message)).toEqual(
      expect.arrayContaining(['shard execution failed: States.Timeout', '2 shard(s) returned no result']),
    );
  });

  it('keep at most one error per shard, cut short, but count them all', () => {
    const [first] = shardResults();
    if (!first) throw new Error('no shard');
    first.errors.push({ accountId: first.shard.accountId, region: first.shard.region, message: 'x'.repeat(5000) });

    const digest = digestShard(first);

    expect(digest.errorCount).toBe(3);
    expect(digest.errors).toHaveLength(DIGEST_ERRORS_MAX);
    expect(digest.errors.every((e) => e.message.length <= DIGEST_MESSAGE_MAX)).toBe(true);
  });

  it(`fit, at their largest, with ${MAX_SHARDS_IN_STATE} shards in the 256 KiB Step Functions state`, () => {
    const region = 'ap-southeast-5';
    const shards = Array.from({ length: MAX_SHARDS_IN_STATE }, (_, n) => ({
      accountId: String(100000000000 + n),
      region,
      accountExemption: 'account exempt by policy (in an OU of exempt.ous)',
    }));
    const worstDigest = (accountId: string): ShardDigest => ({
      shard: { accountId, region },
      byVerdict: Object.fromEntries(VERDICTS.map((v) => [v, 999_999])),
      changed: 999_999,
      errorCount: 999_999,
      errors: [{ accountId, region, message: 'm'.repeat(DIGEST_MESSAGE_MAX) }],
    });
    const planErrors = Array.from({ length: PLAN_ERRORS_MAX + 10 }, (_, n) => ({
      accountId: String(200000000000 + n),
      region: null,
      message: 'e'.repeat(5000),
    }));
    const planOutput: SweepPlanOutput = {
      apply: true,
      plan: summarizePlan({ accounts: 9999, shards, errors: planErrors }),
      shards,
    };

    // The state after the Map: the plan's output with the Map's results added (ResultPath $.results).
    const afterMap = { ...planOutput, results: shards.map((s) => worstDigest(s.accountId)) };
    const bytes = Buffer.byteLength(JSON.stringify(afterMap));

    expect(bytes).toBeLessThan(STATE_LIMIT_BYTES);
  });
});

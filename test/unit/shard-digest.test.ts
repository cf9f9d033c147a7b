import { describe, expect, it } from 'vitest';
import type { SweepPlanOutput } from '../../functions/handlers/sweep-plan.ts';
import type { InstanceResult } from '../../functions/domain/model.ts';
import type { Verdict } from '../../functions/domain/verdicts.ts';
import type { ShardResult } from '../../functions/pipeline/run.ts';
import { addDigests, aggregate, REPORT_ERRORS_MAX, type FailedShard, type SweepReport } from '../../functions/report/aggregate.ts';
import {
  DIGEST_ERRORS_MAX,
  DIGEST_MESSAGE_MAX,
  DIGEST_BLOCKED_MAX,
  digestShard,
  PLAN_ERRORS_MAX,
  summarizePlan,
  type PlanSummary,
  type ShardDigest,
} from '../../functions/report/digest.ts';
import { sweepSummaryMessage, type SlackBlock } from '../../functions/notify/slack-message.ts';
import type { SweepOrganization } from '../../functions/guardrails/readiness.ts';

/** The policy's hop-limit ceiling in these tests: hop limits up to it are within the SCP. */
const digestOf = (result: Parameters<typeof digestShard>[0]) => digestShard(result, { hopCeiling: 64 });

const summed = (mode: SweepReport['mode'], plan: PlanSummary, digests: ShardDigest[], failed: FailedShard[] = []) =>
  aggregate({ mode, plan, digests, failed, findingsEnabled: false });

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
  it('of the pieces of one account-region add up to the digest of the whole, and report the same', () => {
    const shard = { accountId: '333333333333', region: 'us-east-1' };
    const verdicts: Verdict[] = ['enforce', 'blocked-v1-in-use', 'error', 'compliant', 'insufficient-evidence', 'fix-hop-limit', 'exempt'];
    const instances = Array.from({ length: 60 }, (_, n) => ({
      ...instance(shard.accountId, shard.region, n, verdicts[n % verdicts.length] ?? 'compliant', n % 3 === 0),
      noTokenCalls: n,
    }));
    const failure = (n: number) => ({ ...shard, instanceId: `i-${n}`, findingId: `f-${n}`, errorCode: 'InvalidInput', message: 'no' });
    const whole: ShardResult = {
      shard,
      instances,
      errors: [{ ...shard, message: 'cannot read MetadataNoToken: ThrottlingException' }],
      findings: { imported: 50, unchanged: 4, failed: [1, 2, 3, 4, 5, 6].map(failure) },
    };
    // Three invocations' pieces: the shard error met in the first, the finding failures spread.
    const pieces: ShardResult[] = [
      { shard, instances: instances.slice(0, 25), errors: whole.errors, findings: { imported: 20, unchanged: 1, failed: [1, 2].map(failure) } },
      { shard, instances: instances.slice(25, 26), errors: [], findings: { imported: 1, unchanged: 0, failed: [] } },
      { shard, instances: instances.slice(26), errors: [], findings: { imported: 29, unchanged: 3, failed: [3, 4, 5, 6].map(failure) } },
    ];
    const [first, ...rest] = pieces.map(digestOf);
    if (!first) throw new Error('no pieces');

    const summedDigest = rest.reduce(addDigests, first);

    const expected = digestOf(whole);
    expect({ ...summedDigest, errors: summedDigest.errors.length }).toEqual({ ...expected, errors: expected.errors.length });
    const plan = { accounts: 1, shards: 1, errors: [], errorCount: 0 };
    const one = aggregate({ mode: 'apply', plan, digests: [summedDigest], findingsEnabled: true });
    const reference = aggregate({ mode: 'apply', plan, digests: [expected], findingsEnabled: true });
    expect(one.report.summary).toEqual(reference.report.summary);
    expect(one.report.findings).toEqual(reference.report.findings);
    expect(one.overview.blocked).toEqual(reference.overview.blocked);
  });

  it('sum every instance, change and error of the shards into the summary', () => {
    const shards = shardResults();
    const plan = {
      shards: shards.map((s) => s.shard),
      accounts: 3,
      errors: [{ accountId: '333333333333', region: null, message: 'cannot reach account: AccessDenied' }],
    };
    const instances = shards.flatMap((s) => s.instances);

    const { report } = summed('apply', summarizePlan(plan), shards.map(digestOf));

    for (const v of ['enforce', 'blocked-v1-in-use', 'error', 'compliant', 'fix-hop-limit', 'exempt', 'gone'] as const) {
      expect(report.summary.byVerdict[v], v).toBe(instances.filter((i) => i.verdict === v).length);
    }
    // Errors: the unreachable account, the shard's MetadataNoToken failure and the instance in error.
    expect(report.summary).toMatchObject({ instances: 6, changed: 2, toChange: 0, errors: 3, shards: 3, accounts: 3 });
  });

  it('count shards that failed or never answered in the Map as errors', () => {
    const shards = shardResults();
    const plan = { accounts: 2, shards: 5, errors: [], errorCount: 0 };

    const { report } = summed('plan', plan, shards.slice(0, 2).map(digestOf), [
      { shard: undefined, message: 'shard execution failed: States.Timeout' },
    ]);

    expect(report.summary.errors).toBe(2 + 1 + 2); // the first shard's two, the failed one, two missing
    expect(report.errors.map((e) => e.message)).toEqual(
      expect.arrayContaining(['shard execution failed: States.Timeout', '2 shard(s) returned no result']),
    );
  });

  it('give the Slack summary the counts, blocked instances and top accounts of the instances', () => {
    const shards = shardResults();
    shards[1]?.instances.push(
      { ...instance('222222222222', 'eu-west-1', 7, 'blocked-v1-in-use'), noTokenCalls: 9000 },
      instance('222222222222', 'eu-west-1', 8, 'enforce'),
    );
    const plan = { shards: shards.map((s) => s.shard), accounts: 2, errors: [] };
    const sections = (blocks: SlackBlock[]) =>
      blocks.flatMap((b) => (b.type === 'section' && 'text' in b && !b.text.text.startsWith('*Errors') ? [b.text.text] : []));

    const { report, overview } = summed('plan', summarizePlan(plan), shards.map(digestOf));
    const message = sweepSummaryMessage(report, overview, { regions: [] });

    expect(message.text).toMatch(/^IMDSv2 sweep \(plan \(nothing changed\)\): 8 instances in 2 accounts, 2 changed, 1 still to change, 2 blocked/);
    expect(sections(message.blocks)).toEqual([
      // Most first. Account 2: the new enforce and the new blocked; account 1: its blocked one (an error is not counted).
      '*Top accounts by non-compliant instances*\n• `222222222222`: 2\n• `111111111111`: 1',
      '*Blocked: IMDSv1 still in use (2)*\n• `i-00000000000000007` 222222222222 eu-west-1: 9000 IMDSv1 calls\n• `i-00000000000000002` 111111111111 us-east-1: 0 IMDSv1 calls',
    ]);
  });

  it('name only the heaviest IMDSv1 users of a shard, and count them all', () => {
    const shard = { accountId: '111111111111', region: 'us-east-1' };
    const instances = Array.from({ length: 50 }, (_, n) => ({ ...instance(shard.accountId, shard.region, n, 'blocked-v1-in-use'), noTokenCalls: n }));

    const digest = digestOf({ shard, instances, errors: [] });
    const { report, overview } = summed('plan', summarizePlan({ shards: [shard], accounts: 1, errors: [] }), [digest]);

    expect(digest.blocked).toHaveLength(DIGEST_BLOCKED_MAX);
    expect(digest.blocked[0]).toEqual({ instanceId: instances[49]?.instanceId, noTokenCalls: 49 });
    expect(digest).toMatchObject({ nonCompliant: 50, toChange: 0 });
    expect(report.summary).toMatchObject({ instances: 50, byVerdict: expect.objectContaining({ 'blocked-v1-in-use': 50 }) });
    expect(overview.blocked).toHaveLength(DIGEST_BLOCKED_MAX);
    const list = sweepSummaryMessage(report, overview, { regions: [] }).blocks.flatMap((b) => (b.type === 'section' && 'text' in b ? [b.text.text] : []));
    expect(list.find((t) => t.startsWith('*Blocked: IMDSv1 still in use (50)*'))).toMatch(/\n…and 30 more$/);
  });

  it('keep at most one error per shard, cut short, but count them all', () => {
    const [first] = shardResults();
    if (!first) throw new Error('no shard');
    first.errors.push({ accountId: first.shard.accountId, region: first.shard.region, message: 'x'.repeat(5000) });

    const digest = digestOf(first);

    expect(digest.errorCount).toBe(3);
    expect(digest.errors).toHaveLength(DIGEST_ERRORS_MAX);
    expect(digest.errors.every((e) => e.message.length <= DIGEST_MESSAGE_MAX)).toBe(true);
  });

  it('list every failed shard before the shards\' own errors, and at most REPORT_ERRORS_MAX in all', () => {
    const region = 'eu-west-1';
    const digests = Array.from({ length: 500 }, (_, n): ShardDigest => {
      const accountId = String(100000000000 + n);
      const errors = [{ accountId, region, message: 'throttled' }];
      return { shard: { accountId, region }, byVerdict: { compliant: 1 }, changed: 0, errorCount: 1, errors, toChange: 0, nonCompliant: 0, blocked: [] };
    });
    const failed = [{ shard: { accountId: '999999999999', region }, message: 'shard execution failed: States.Timeout' }];

    const { report } = summed('plan', { accounts: 501, shards: 501, errors: [], errorCount: 0 }, digests, failed);

    expect(report.summary.errors).toBe(501);
    expect(report.errors).toHaveLength(REPORT_ERRORS_MAX);
    expect(report.errors[0]).toEqual({ accountId: '999999999999', region, message: 'shard execution failed: States.Timeout' });
    expect(report.errors.at(-1)?.message).toMatch(/^…and 402 more errors/);
  });

  it('leave the state after the Map, at its largest, within the 256 KiB limit whatever the number of shards', () => {
    const planErrors = Array.from({ length: PLAN_ERRORS_MAX + 10 }, (_, n) => ({
      accountId: String(200000000000 + n),
      region: null,
      message: 'e'.repeat(5000),
    }));
    const planOutput: SweepPlanOutput = {
      apply: true,
      plan: summarizePlan({ accounts: 1_000_000, shards: { length: 17_000_000 } as unknown[], errors: planErrors }),
      shardsKey: `shards/2026-11-23/${'f'.repeat(36)}.json`,
    };

    // The Map's result (ResultPath $.results) is its ResultWriter's pointer, not the digests.
    const afterMap = {
      ...planOutput,
      results: {
        MapRunArn: `arn:aws:states:us-east-1:111111111111:mapRun:imds-remediator-prod-sweep/Shards:${'f'.repeat(36)}`,
        ResultWriterDetails: { Bucket: 'x'.repeat(63), Key: `results/${'f'.repeat(36)}/manifest.json` },
      },
    };

    expect(Buffer.byteLength(JSON.stringify(afterMap))).toBeLessThan(STATE_LIMIT_BYTES);
    expect(afterMap.plan.errors).toHaveLength(PLAN_ERRORS_MAX);
  });
});

describe('readiness in the digests', () => {
  it('counts the instances that stand in the way of prevention, and a piece that does not say makes its account-region unknown', () => {
    const [first, second] = shardResults().map(digestOf);

    // Account 1: the blocked one and the one in error (the enforced one now requires IMDSv2); account 2: the exempt one.
    expect([first?.notReady, second?.notReady]).toEqual([2, 1]);
    const old = { ...(second as ShardDigest), notReady: undefined };
    expect(addDigests(second as ShardDigest, second as ShardDigest).notReady).toBe(2);
    expect(addDigests(second as ShardDigest, old).notReady).toBeUndefined();
  });

  it('makes an account ready only when every account-region planned for it reported clean', () => {
    const clean = (accountId: string, region: string): ShardDigest => digestOf({ shard: { accountId, region }, instances: [instance(accountId, region, 1, 'compliant')], errors: [] });
    const tree = {
      units: [
        { id: 'r-abcd', name: 'Root', parentId: null },
        { id: 'ou-abcd-00000001', name: 'Prod', parentId: 'r-abcd' },
      ],
      accounts: [
        { id: '111111111111', name: 'a', parentId: 'ou-abcd-00000001' },
        { id: '222222222222', name: 'b', parentId: 'ou-abcd-00000001' },
        { id: '333333333333', name: 'c', parentId: 'r-abcd' },
      ],
    };
    const plan = { accounts: 3, shards: 5, errors: [], errorCount: 0 };
    const digests = [
      clean('111111111111', 'us-east-1'),
      clean('111111111111', 'eu-west-1'),
      // b: one of its two regions never reported.
      clean('222222222222', 'us-east-1'),
      // c: an old shard function that does not count.
      { ...clean('333333333333', 'us-east-1'), notReady: undefined },
    ];

    const { report } = aggregate({
      mode: 'plan',
      plan,
      digests,
      findingsEnabled: false,
      organization: {
        tree,
        plannedShards: { '111111111111': 2, '222222222222': 2, '333333333333': 1 },
        unsweptRegions: { '111111111111': [], '222222222222': [], '333333333333': [] },
      },
    });

    expect(report.readiness).toEqual({
      accounts: 3,
      readyAccounts: 1,
      unitCount: 2,
      units: [
        { id: 'r-abcd', name: 'Root', path: 'Root', parentId: null, accounts: 3, readyAccounts: 1, ready: false },
        { id: 'ou-abcd-00000001', name: 'Prod', path: 'Root/Prod', parentId: 'r-abcd', accounts: 2, readyAccounts: 1, ready: false },
      ],
    });
  });

  describe('counts an account ready only when', () => {
    const A = '111111111111';
    const tree = { units: [{ id: 'r-abcd', name: 'Root', parentId: null }], accounts: [{ id: A, name: 'a', parentId: 'r-abcd' }] };
    const clean = (region: string): ShardDigest => digestOf({ shard: { accountId: A, region }, instances: [instance(A, region, 1, 'compliant')], errors: [] });
    const readyAccounts = (digests: ShardDigest[], organization: Omit<SweepOrganization, 'tree'>) =>
      aggregate({ mode: 'plan', plan: { accounts: 1, shards: 2, errors: [], errorCount: 0 }, digests, findingsEnabled: false, organization: { tree, ...organization } }).report
        .readiness?.readyAccounts;

    it('each planned account-region reported: one reported twice does not stand for one never reported', () => {
      const planned = { plannedShards: { [A]: 2 }, unsweptRegions: { [A]: [] } };

      expect(readyAccounts([clean('us-east-1'), clean('us-east-1')], planned)).toBe(0);
      expect(readyAccounts([clean('us-east-1'), clean('us-west-2')], planned)).toBe(1);
    });

    it('no enabled region was left out of the sweep, and the plan said so (an older organization file did not)', () => {
      const digests = [clean('us-east-1'), clean('us-west-2')];

      expect(readyAccounts(digests, { plannedShards: { [A]: 2 }, unsweptRegions: { [A]: ['ap-south-1'] } })).toBe(0);
      expect(readyAccounts(digests, { plannedShards: { [A]: 2 } })).toBe(0);
      expect(readyAccounts(digests, { plannedShards: { [A]: 2 }, unsweptRegions: {} })).toBe(0);
    });
  });

  it('counts an instance whose hop limit is above the SCP ceiling as not ready', () => {
    const shard = { accountId: '111111111111', region: 'us-east-1' };
    const high = { ...instance(shard.accountId, shard.region, 1, 'hop-limit-above-policy'), hopLimit: 4 };

    expect(digestShard({ shard, instances: [high], errors: [] }, { hopCeiling: 3 }).notReady).toBe(1);
    expect(digestShard({ shard, instances: [high], errors: [] }, { hopCeiling: 4 }).notReady).toBe(0);
  });
});

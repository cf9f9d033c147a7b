// The API-call budget of one account-region, on call counts (deterministic), not timing.
import type { MiddlewareStack } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import type { AnyClient } from '../../functions/app/compose.ts';
import type { Clock } from '../../functions/domain/token-bucket.ts';
import { days, type LocalAws } from '../../local/local-aws.ts';
import { testPolicy } from '../support/scenario.ts';
import { GENERATOR_ID } from '../../functions/findings/asff.ts';
import { TEMPLATE_GENERATOR_ID } from '../../functions/findings/template-findings.ts';
import { sweep, useMoto } from '../support/moto.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';

/**
 * The budget of one account-region with n instances, m of them needing evidence and k
 * changed. DescribeRegions is per account (the plan reads it once, in the home region),
 * AssumeRole per account per run; neither grows with regions or instances.
 */
const budget = ({ n, m, k, verifyReads }: { n: number; m: number; k: number; verifyReads: number }) => ({
  // ⌈n/1000⌉ pages, plus slack for a trailing empty page.
  listInstances: 2 + Math.ceil(n / 1000),
  // Re-reads after modifies: 200 ids per DescribeInstances filter, each verification round.
  reReads: Math.ceil(k / 200) * verifyReads,
  getMetricData: Math.ceil(m / 500),
  modify: k,
  describeRegionsPerAccount: 1,
  assumeRolePerAccount: 1,
  // The launch-template step's fixed cost, with no template and no launch configuration:
  // DescribeLaunchTemplates, DescribeLaunchConfigurations and GetFindings for template findings.
  templatesFixed: 3,
});

type Call = { operation: string; input: Record<string, unknown>; at: number };

const recordCalls = (clock?: Clock) => {
  const calls: Call[] = [];
  const customizeClient = (client: AnyClient) => {
    (client.middlewareStack as MiddlewareStack<object, object>).add(
      (next, context) => async (args) => {
        calls.push({ operation: String(context.commandName).replace(/Command$/, ''), input: args.input as Record<string, unknown>, at: clock?.now() ?? 0 });
        return next(args);
      },
      { step: 'initialize', name: 'recordCalls' },
    );
  };
  const count = (operation: string, where: (c: Call) => boolean = () => true) =>
    calls.filter((c) => c.operation === operation && where(c)).length;
  return { calls, count, customizeClient };
};

const virtualClock = (): Clock => {
  let t = 0;
  return { now: () => t, sleep: async (ms) => void (t += ms) };
};

/**
 * One member account, one region: n = 1,050 instances in four reservations. 550 have
 * HttpTokens optional (m, they need evidence): 110 of them with 7 clean days (enforce),
 * 440 without datapoints. 10 more have hop-limit drift. k = 120 change under apply.
 */
const seedBigShard = async (local: LocalAws) => {
  const [member = ''] = await local.createOrganization(['big']);
  await local.runInstances(member, REGION, { httpTokens: 'required', hopLimit: 1, count: 490 });
  await local.runInstances(member, REGION, { httpTokens: 'required', hopLimit: 1, count: 10, tags: { 'eks:cluster-name': 'prod' } });
  const clean = await local.runInstances(member, REGION, { count: 110 });
  await local.runInstances(member, REGION, { count: 440 });
  await local.putNoTokenCalls(member, REGION, Object.fromEntries(clean.map((id) => [id, days(7)])));
  return { member, n: 1050, m: 550, k: 120 };
};

const policyFor = (member: string) => testPolicy({ lookbackDays: 7, minObservedDays: 7, scope: { accounts: [member], regions: [REGION] } });
const isListing = (c: Call) => c.input.Filters === undefined && c.input.InstanceIds === undefined;

describe('API-call budget of one account-region', () => {
  it('plans 1,050 instances with page-sized DescribeInstances, ⌈m/500⌉ GetMetricData and no per-instance call', async () => {
    const { member, n, m } = await seedBigShard(aws());
    const rec = recordCalls();

    const { report } = await sweep(policyFor(member), { customizeClient: rec.customizeClient });

    expect(report.instances).toHaveLength(n);
    expect(report.summary.byVerdict).toMatchObject({ enforce: 110, 'fix-hop-limit': 10, 'insufficient-evidence': 440 });
    const limit = budget({ n, m, k: 0, verifyReads: 0 });
    expect(rec.count('DescribeInstances', isListing)).toBeLessThanOrEqual(limit.listInstances);
    expect(rec.count('DescribeInstances')).toBe(rec.count('DescribeInstances', isListing));
    expect(rec.count('GetMetricData')).toBe(limit.getMetricData);
    expect(rec.count('DescribeRegions')).toBe(limit.describeRegionsPerAccount);
    expect(rec.count('AssumeRole')).toBe(limit.assumeRolePerAccount);
    expect(rec.count('ModifyInstanceMetadataOptions')).toBe(0);
    // Findings: at most ⌈n/100⌉ imports of ≤ 100, after one paginated read of what is there.
    const findingPages = Math.ceil(n / 100);
    expect(rec.count('BatchImportFindings')).toBeLessThanOrEqual(findingPages);
    for (const c of rec.calls.filter((x) => x.operation === 'BatchImportFindings')) expect((c.input.Findings as unknown[]).length).toBeLessThanOrEqual(100);
    const ofGenerator = (id: string) => (c: Call) => JSON.stringify(c.input.Filters ?? {}).includes(`"Value":"${id}"`);
    expect(rec.count('GetFindings', ofGenerator(GENERATOR_ID))).toBeLessThanOrEqual(findingPages);
    // The template findings' own read: one page on AWS, whose GeneratorId filter leaves only them;
    // moto ignores filters and pages through the instances' findings too.
    const templatePages = rec.count('GetFindings', ofGenerator(TEMPLATE_GENERATOR_ID));
    expect(templatePages).toBeGreaterThanOrEqual(1);
    expect(templatePages).toBeLessThanOrEqual(findingPages);
    for (const op of ['DescribeLaunchTemplates', 'DescribeLaunchConfigurations']) expect(rec.count(op), op).toBe(1);
    // No template and no launch configuration: the groups are not asked for.
    expect(rec.count('DescribeAutoScalingGroups')).toBe(0);
    expect(rec.count('DescribeLaunchTemplateVersions')).toBe(0);
    // The OU tree for the readiness per OU (ListRoots, then the root's accounts and OUs: the organization has no OU).
    const treeWalk = rec.count('ListRoots') + rec.count('ListAccountsForParent') + rec.count('ListOrganizationalUnitsForParent');
    expect(treeWalk).toBe(3);
    // Everything else is the run's fixed cost: ListAccounts, one GetCallerIdentity and the tree walk.
    expect(rec.calls.length - templatePages + 1).toBeLessThanOrEqual(limit.listInstances + limit.getMetricData + 2 * findingPages + 1 + 1 + 1 + 1 + limit.templatesFixed + treeWalk);
  });

  it('applies k = 120 changes with k modifies, batched re-reads and tags, paced by the 100 + 5/s bucket', async () => {
    const { member, n, m, k } = await seedBigShard(aws());
    const clock = virtualClock();
    const rec = recordCalls(clock);

    const { report } = await sweep(policyFor(member), { apply: true, clock, customizeClient: rec.customizeClient });

    expect(report.summary.changed).toBe(k);
    const limit = budget({ n, m, k, verifyReads: 1 });
    expect(rec.count('ModifyInstanceMetadataOptions')).toBe(limit.modify);
    expect(rec.count('DescribeInstances', isListing)).toBeLessThanOrEqual(limit.listInstances);
    // moto applies at once, so one verification round reads all 120 back in ⌈120/200⌉ call.
    expect(rec.count('DescribeInstances', (c) => !isListing(c))).toBe(limit.reReads);
    expect(rec.count('GetMetricData')).toBe(limit.getMetricData);
    // One CreateTags per (verdict, reason) group, not per instance: enforce, and hop-limit drift.
    expect(rec.count('CreateTags')).toBe(2);
    // The burst of 100 goes at once; each modify after it waits for a token, 200 ms apart.
    const modifiedAt = rec.calls.filter((c) => c.operation === 'ModifyInstanceMetadataOptions').map((c) => c.at);
    expect(modifiedAt.slice(0, 100).every((t) => t === 0)).toBe(true);
    expect(modifiedAt[100]).toBe(200);
    expect(modifiedAt.at(-1)).toBe((k - 100) * 200);
  });

  it('keeps an unchanged fleet current without re-importing its PASSED findings', async () => {
    const { member, n } = await seedBigShard(aws());
    await sweep(policyFor(member));
    const rec = recordCalls();

    const { report } = await sweep(policyFor(member), { customizeClient: rec.customizeClient });

    const failedOrUnknown = n - report.summary.byVerdict.compliant - report.summary.byVerdict.exempt;
    const imported = rec.calls.filter((c) => c.operation === 'BatchImportFindings').reduce((sum, c) => sum + (c.input.Findings as unknown[]).length, 0);
    expect(imported).toBeLessThanOrEqual(failedOrUnknown + report.summary.byVerdict.exempt);
    expect(imported).toBeLessThan(n);
    expect(rec.count('BatchImportFindings')).toBe(Math.ceil(imported / 100));
  });
});

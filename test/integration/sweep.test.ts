import { describe, expect, it } from 'vitest';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON } from '../../functions/domain/tags.ts';
import { days } from '../../local/local-aws.ts';
import { readInstance, REGIONS, seedOrganization, testPolicy, type Kind, PLANNED_VERDICT } from '../support/scenario.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { awsError, intercept, recordCalls } from '../support/sdk-middleware.ts';

const { aws } = useMoto();

describe('organization sweep', () => {
  it('plans a verdict for every instance of every account-region and changes nothing', async () => {
    const local = aws();
    const { accounts, seeded } = await seedOrganization(local);

    const { report } = await sweep(testPolicy(), { apply: false });

    expect(report.mode).toBe('plan');
    expect(report.errors).toEqual([]);
    expect(report.summary).toMatchObject({ accounts: 3, shards: accounts.length * REGIONS.length, changed: 0 });
    expect(report.instances).toHaveLength(seeded.length);
    for (const s of seeded) {
      const found = report.instances.find((i) => i.instanceId === s.instanceId);
      expect(found, `${s.kind} ${s.instanceId}`).toMatchObject({ accountId: s.accountId, region: s.region, verdict: PLANNED_VERDICT[s.kind] });
    }
    for (const s of seeded.filter((x) => x.kind === 'plain' || x.kind === 'v1-user')) {
      expect(await readInstance(local, s.accountId, s.region, s.instanceId)).toMatchObject({ httpTokens: 'optional' });
    }
  });

  it('enforces exactly the safe instances with the hop limit of their tags, and leaves the rest untouched', async () => {
    const local = aws();
    const { seeded } = await seedOrganization(local);

    const { report, lines } = await sweep(testPolicy(), { apply: true });

    expect(report.mode).toBe('apply');
    expect(report.summary.changed).toBe(seeded.filter((s) => ['plain', 'container', 'eks-drift'].includes(s.kind)).length);
    for (const s of seeded) {
      const now = await readInstance(local, s.accountId, s.region, s.instanceId);
      switch (s.kind) {
        case 'plain':
          expect(now).toMatchObject({ httpTokens: 'required', hopLimit: 1, httpEndpoint: 'enabled' });
          expect(now.tags[TAG_ENFORCED_AT]).toMatch(/^\d{4}-\d\d-\d\dT/);
          expect(now.tags[TAG_REASON]).toMatch(/0 IMDSv1 calls on 14 observed days/);
          break;
        case 'container':
          expect(now).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
          break;
        case 'eks-drift':
          expect(now).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
          expect(now.tags[TAG_HOP_LIMIT_SET_AT]).toBeDefined();
          expect(now.tags[TAG_ENFORCED_AT]).toBeUndefined();
          break;
        case 'v1-user':
        case 'no-data':
        case 'exempt':
          expect(now, s.kind).toMatchObject({ httpTokens: 'optional', hopLimit: 1 });
          expect(now.tags[TAG_ENFORCED_AT]).toBeUndefined();
          break;
        case 'endpoint-off':
          expect(now.httpEndpoint).toBe('disabled');
          break;
        case 'compliant':
          expect(now.tags[TAG_REASON]).toBeUndefined();
          break;
      }
    }
    const changedLines = lines.filter((l) => l.message === 'instance changed');
    expect(changedLines).toHaveLength(report.summary.changed);
    expect(changedLines[0]).toMatchObject({ accountId: expect.any(String), region: expect.any(String), instanceId: expect.any(String), reason: expect.any(String) });
  });

  it('changes nothing when apply runs a second time', async () => {
    const local = aws();
    await seedOrganization(local);
    await sweep(testPolicy(), { apply: true });
    const counter = recordCalls();

    const { report } = await sweep(testPolicy(), { apply: true, customizeClient: counter.customizeClient });

    expect(report.summary.changed).toBe(0);
    expect(report.summary.byVerdict.enforce + report.summary.byVerdict['fix-hop-limit']).toBe(0);
    expect(counter.calls.filter((c) => c.operation === 'ModifyInstanceMetadataOptions' || c.operation === 'CreateTags')).toEqual([]);
  });

  it('applies nothing when the policy mode is report', async () => {
    const local = aws();
    const { seeded } = await seedOrganization(local);
    const { report } = await sweep(testPolicy({ mode: 'report' }), { apply: true });
    expect(report.mode).toBe('plan');
    const plain = seeded.find((s) => s.kind === 'plain');
    if (!plain) throw new Error('no plain instance seeded');
    expect(await readInstance(local, plain.accountId, plain.region, plain.instanceId)).toMatchObject({ httpTokens: 'optional' });
  });

  it('reports an account whose member role cannot be assumed and still sweeps the others', async () => {
    const local = aws();
    const { members, seeded } = await seedOrganization(local);
    const broken = members[0] ?? '';
    // The fault: STS refuses AssumeRole into one account, as AWS does when the role is missing.
    const customizeClient = intercept('denyAssumeRole', ({ operation, input }) => {
      if (operation === 'AssumeRole' && String(input.RoleArn).includes(`::${broken}:`)) {
        throw awsError('AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${String(input.RoleArn)}`);
      }
    });

    const { report } = await sweep(testPolicy(), { apply: true, customizeClient });

    expect(report.errors).toEqual([
      { accountId: broken, region: null, message: expect.stringMatching(/cannot assume arn:aws:iam::\d{12}:role\/ImdsRemediatorMemberRole: AccessDenied/) },
    ]);
    const others = seeded.filter((s) => s.accountId !== broken);
    expect(report.instances.map((i) => i.instanceId).sort()).toEqual(others.map((s) => s.instanceId).sort());
    expect(report.summary.changed).toBe(others.filter((s) => ['plain', 'container', 'eks-drift'].includes(s.kind)).length);
  });

  it('sweeps only the accounts and OUs in scope, and names a scoped account that does not exist', async () => {
    const local = aws();
    const { members } = await seedOrganization(local, ['alpha', 'beta', 'gamma']);
    const [alpha = '', beta = '', gamma = ''] = members;
    const ou = await local.createOu('workloads', [gamma]);

    const { report } = await sweep(testPolicy({ scope: { regions: ['eu-west-1'], accounts: [alpha, '999999999999'], ous: [ou] } }));

    expect(new Set(report.instances.map((i) => i.accountId))).toEqual(new Set([alpha, gamma]));
    expect(new Set(report.instances.map((i) => i.region))).toEqual(new Set(['eu-west-1']));
    expect(report.instances.some((i) => i.accountId === beta)).toBe(false);
    expect(report.errors).toEqual([{ accountId: '999999999999', region: null, message: expect.stringMatching(/not ACTIVE/) }]);
  });

  it('exempts every instance of an account listed in exempt.accounts', async () => {
    const local = aws();
    const { members } = await seedOrganization(local);
    const exempt = members[1] ?? '';
    const { report } = await sweep(testPolicy({ exempt: { accounts: [exempt] } }), { apply: true });
    const theirs = report.instances.filter((i) => i.accountId === exempt);
    expect(theirs.filter((i) => i.changed)).toEqual([]);
    expect(theirs.filter((i) => i.verdict === 'exempt').length).toBeGreaterThan(0);
  });

  it('reads evidence for 520 instances in two GetMetricData calls of at most 500 queries', async () => {
    const local = aws();
    await local.createOrganization([]);
    const ids = [
      ...(await local.runInstances('123456789012', 'us-east-1', { count: 260 })),
      ...(await local.runInstances('123456789012', 'us-east-1', { count: 260 })),
    ];
    await local.putNoTokenCalls('123456789012', 'us-east-1', Object.fromEntries(ids.map((id, n) => [id, n % 100 === 0 ? days(7, 3) : days(7)])));
    const counter = recordCalls();

    const { report } = await sweep(testPolicy({ scope: { regions: ['us-east-1'] } }), { customizeClient: counter.customizeClient });

    const metricCalls = counter.calls.filter((c) => c.operation === 'GetMetricData');
    expect(metricCalls.map((c) => (c.input.MetricDataQueries as unknown[]).length)).toEqual([500, 20]);
    expect(report.summary.byVerdict['blocked-v1-in-use']).toBe(6);
    expect(report.summary.byVerdict.enforce).toBe(514);
    // DescribeInstances pages, not one call per instance.
    expect(counter.calls.filter((c) => c.operation === 'DescribeInstances').length).toBeLessThanOrEqual(3);
  });
});

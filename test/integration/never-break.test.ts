// Issue 12: the decision rules that keep the tool from breaking a workload, each proven through
// the real SDK against moto_server on the path a user would take (a sweep, or an event).
import { describe, expect, it } from 'vitest';
import { TAG_HOP_LIMIT_RAISED_AT, TAG_HOP_LIMIT_SET_AT } from '../../functions/domain/tags.ts';
import { readFindings } from '../../local/findings.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
const policy = (overrides: Parameters<typeof testPolicy>[0] = {}) => testPolicy({ scope: { regions: [REGION] }, ...overrides });

describe('finding 1: hop limits are never lowered unless the policy says so', () => {
  it('keeps hop limit 2 on an untagged required instance and enforces an optional one at 2, under the default rule of 1', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [al2023 = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', hopLimit: 2 });
    const [optional = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { hopLimit: 2 });
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [optional]: days(14) });

    const { report } = await sweep(policy(), { apply: true });

    const byId = new Map(report.instances.map((i) => [i.instanceId, i]));
    expect(byId.get(al2023)).toMatchObject({ verdict: 'compliant', hopLimit: 2, changed: false });
    expect(byId.get(optional)).toMatchObject({ verdict: 'enforce', hopLimit: 2, changed: true });
    const kept = await readInstance(local, MANAGEMENT_ACCOUNT, REGION, al2023);
    expect(kept).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
    expect(kept.tags[TAG_HOP_LIMIT_SET_AT]).toBeUndefined();
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, optional)).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
  });

  it('lowers it only with hopLimit.lower: apply', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [al2023 = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', hopLimit: 2 });

    const { report } = await sweep(policy({ hopLimit: { default: 1, lower: 'apply' } }), { apply: true });

    expect(report.instances[0]).toMatchObject({ instanceId: al2023, verdict: 'fix-hop-limit', changed: true });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, al2023)).toMatchObject({ hopLimit: 1 });
  });
});

describe('finding 2: two-phase container remediation', () => {
  it('raises a v1-using container host to its hop limit with IMDSv1 still allowed, then enforces it once the calls stop', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [host = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { hopLimit: 1, tags: { workload: 'ecs' } });
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [host]: days(14, 30) });

    const first = await sweep(policy(), { apply: true });

    expect(first.report.instances[0]).toMatchObject({ verdict: 'raise-hop-limit', hopLimit: 2, noTokenCalls: 30, changed: true });
    const raised = await readInstance(local, MANAGEMENT_ACCOUNT, REGION, host);
    expect(raised).toMatchObject({ httpTokens: 'optional', hopLimit: 2 });
    expect(raised.tags[TAG_HOP_LIMIT_RAISED_AT]).toBeDefined();
    const finding = (await readFindings(local, MANAGEMENT_ACCOUNT, REGION)).find((f) => f.Resources?.[0]?.Id?.endsWith(host));
    expect(finding?.Compliance?.Status).toBe('FAILED');
    expect(first.report.summary.byVerdict['raise-hop-limit']).toBe(1);

    // The next sweep still sees the calls of the window: it measures, and changes nothing.
    const second = await sweep(policy(), { apply: true });
    expect(second.report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false });

    // Two weeks on, with no v1 call since the raise, the host is enforced at the raised hop limit.
    const later = new Date(Date.now() + 14 * 86_400_000);
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [host]: days(14) }, later);
    const third = await sweep(policy(), { apply: true, now: () => later });
    expect(third.report.instances[0]).toMatchObject({ verdict: 'enforce', changed: true });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, host)).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
  });
});

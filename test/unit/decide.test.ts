import { describe, expect, it } from 'vitest';
import { decide } from '../../functions/domain/decide.ts';
import { NO_EVIDENCE, NOT_NEEDED, type Evidence, type InstanceFacts, type MetadataOptions } from '../../functions/domain/model.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { isChange } from '../../functions/domain/verdicts.ts';
import { testPolicy } from '../support/scenario.ts';

const now = new Date('2026-11-23T12:00:00Z');
const policy = parsePolicy(testPolicy({ force: { instanceIds: ['i-0000000000000f0ce'] } }));

const instance = (metadata: Partial<MetadataOptions> = {}, tags: Record<string, string> = {}, id = 'i-0123456789abcdef0'): InstanceFacts => ({
  instanceId: id,
  state: 'running',
  launchTime: new Date('2026-10-01T00:00:00Z'),
  tags,
  metadata: { httpTokens: 'optional', httpEndpoint: 'enabled', hopLimit: 1, state: 'applied', ...metadata },
  instanceProfileArn: undefined,
});
/** MetadataNoToken read (and MetadataNoTokenRejected, when given) as CloudWatch answered it. */
const ev = (calls: number, observedDays: number, rejectedCalls?: number, rejectedFrom = new Date('2026-11-22T00:00:00Z')): Evidence => ({
  noToken: { status: 'read', value: { calls, observedDays } },
  rejected:
    rejectedCalls === undefined
      ? NOT_NEEDED
      : { status: 'read', value: { calls: rejectedCalls, observedDays, firstDay: rejectedCalls > 0 ? rejectedFrom : undefined } },
});
const clean = ev(0, 14);
const ctx = { now };

describe('decide', () => {
  it('calls an instance with IMDSv2 required and the wanted hop limit compliant', () => {
    const d = decide(instance({ httpTokens: 'required' }), NO_EVIDENCE, policy, ctx);
    expect(d).toMatchObject({ verdict: 'compliant', hopLimit: 1 });
  });

  it('calls an instance with the IMDS endpoint disabled compliant, whatever its tokens setting', () => {
    const d = decide(instance({ httpEndpoint: 'disabled' }), NO_EVIDENCE, policy, ctx);
    expect(d.verdict).toBe('compliant');
    expect(d.reason).toMatch(/disabled/);
  });

  it('wants hop limit 2 for an EKS node that has IMDSv2 but hop limit 1', () => {
    const d = decide(instance({ httpTokens: 'required' }, { 'eks:cluster-name': 'prod' }), NO_EVIDENCE, policy, ctx);
    expect(d).toMatchObject({ verdict: 'fix-hop-limit', hopLimit: 2 });
    expect(d.reason).toMatch(/rule 1 \(eks:cluster-name\)/);
  });

  it('matches hop-limit rules by glob key and by value list, first match winning', () => {
    const k8s = decide(instance({}, { 'kubernetes.io/cluster/blue': 'owned' }), clean, policy, ctx);
    const ecs = decide(instance({}, { workload: 'ecs' }), clean, policy, ctx);
    const web = decide(instance({}, { workload: 'web' }), clean, policy, ctx);
    expect([k8s.hopLimit, ecs.hopLimit, web.hopLimit]).toEqual([2, 2, 1]);
  });

  it('enforces an optional instance with zero v1 calls observed on enough days', () => {
    const d = decide(instance({}, { workload: 'container' }), clean, policy, ctx);
    expect(d).toMatchObject({ verdict: 'enforce', hopLimit: 2 });
    expect(d.reason).toMatch(/0 IMDSv1 calls on 14 observed days/);
  });

  it('blocks an instance whose workload still made v1 calls, with the count in the reason', () => {
    const d = decide(instance(), ev(37, 14), policy, ctx);
    expect(d.verdict).toBe('blocked-v1-in-use');
    expect(d.reason).toMatch(/^37 IMDSv1 calls/);
  });


  it('treats no datapoints as unknown, not as zero calls', () => {
    const d = decide(instance(), ev(0, 0), policy, ctx);
    expect(d.verdict).toBe('insufficient-evidence');
    expect(d.reason).toMatch(/unknown, not zero/);
  });

  it('waits for minObservedDays of datapoints before enforcing', () => {
    const young = { ...instance(), launchTime: new Date('2026-11-20T12:00:00Z') };
    const d = decide(young, ev(0, 3), policy, ctx);
    expect(d.verdict).toBe('insufficient-evidence');
    expect(d.reason).toMatch(/only 3 of the 7 days required observed; launched 3 days ago/);
  });

  it('leaves an exempt-tagged instance alone even with clean evidence', () => {
    const d = decide(instance({}, { 'imds-exempt': 'true' }), clean, policy, ctx);
    expect(d.verdict).toBe('exempt');
    expect(d.reason).toMatch(/exempt by tag imds-exempt=true/);
  });

  it('does not exempt on the tag key alone when the policy names values', () => {
    const d = decide(instance({}, { 'imds-exempt': 'false' }), clean, policy, ctx);
    expect(d.verdict).toBe('enforce');
  });

  it('exempts every instance of an exempt account, including hop-limit drift', () => {
    const d = decide(instance({ httpTokens: 'required' }, { 'eks:cluster-name': 'x' }), NO_EVIDENCE, policy, {
      now,
      accountExemption: 'account exempt by policy (exempt.accounts)',
    });
    expect(d.verdict).toBe('exempt');
  });

  it('enforces a forced instance despite v1 calls, and says so', () => {
    const d = decide(instance({}, {}, 'i-0000000000000f0ce'), ev(9, 14), policy, ctx);
    expect(d.verdict).toBe('enforce');
    expect(d.reason).toMatch(/forced by policy \(force.instanceIds\).*9 IMDSv1 calls/);
  });

  it('never enforces on missing evidence unless forced', () => {
    expect(decide(instance(), NO_EVIDENCE, policy, ctx).verdict).toBe('insufficient-evidence');
  });

  it.each([
    ['an instance that allows IMDSv1', instance(), 'error'],
    ['an exempt instance', instance({}, { 'imds-exempt': 'true' }), 'exempt'],
    ['a forced instance', instance({}, {}, 'i-0000000000000f0ce'), 'enforce'],
  ])('owns the verdict when MetadataNoToken could not be read, for %s', (_, facts, verdict) => {
    const failed: Evidence = { noToken: { status: 'failed', reason: 'cannot read MetadataNoToken: ThrottlingException' }, rejected: NOT_NEEDED };
    const d = decide(facts, failed, policy, ctx);
    expect(d.verdict).toBe(verdict);
    if (verdict === 'error') expect(d.reason).toMatch(/ThrottlingException/);
  });
});

describe('decide for events', () => {
  const launched = { ...instance(), launchTime: new Date(now.getTime() - 2 * 60_000) };
  /** Siblings as observeSiblings reads them: [instance id, IMDSv1 calls, observed days]. */
  const launch = (evidence: Array<[string, number, number]>, group?: string, failure?: string) => ({
    now,
    event: {
      kind: 'launch' as const,
      actor: 'arn:aws:sts::111122223333:assumed-role/Admin/alice',
      siblings: { group, evidence: evidence.map(([instanceId, calls, observedDays]) => ({ instanceId, calls, observedDays })), failure },
    },
  });

  it('enforces a new instance with no history when no sibling uses v1 (onLaunch enforce)', () => {
    const d = decide({ ...launched, tags: { workload: 'ecs' } }, ev(0, 0), policy, launch([['i-0sib', 0, 14]], 'Auto Scaling group web'));
    expect(d).toMatchObject({ verdict: 'enforce', hopLimit: 2 });
    expect(d.reason).toMatch(/new instance launched by arn:aws:sts::111122223333:assumed-role\/Admin\/alice: no history, and no IMDSv1 call by 1 sibling .* in Auto Scaling group web/);
  });

  it('blocks a new instance whose siblings use v1, naming them', () => {
    const d = decide(launched, ev(0, 0), policy, launch([['i-0sib', 12, 14]], 'Auto Scaling group web'));
    expect(d.verdict).toBe('blocked-v1-in-use');
    expect(d.reason).toMatch(/^siblings use IMDSv1: 12 calls .* by i-0sib \(12\) in Auto Scaling group web/);
  });

  it('waits for evidence when the policy says onLaunch: wait', () => {
    const waiting = parsePolicy({ onLaunch: 'wait' });
    expect(decide(launched, ev(0, 0), waiting, launch([])).verdict).toBe('insufficient-evidence');
  });

  it('still exempts a new instance tagged exempt', () => {
    expect(decide({ ...launched, tags: { 'imds-exempt': 'true' } }, ev(0, 0), policy, launch([])).verdict).toBe('exempt');
  });

  it.each([
    ['have no datapoints', [['i-0sib1', 0, 0], ['i-0sib2', 0, 0]]],
    ['were observed on fewer than minObservedDays days', [['i-0sib1', 0, 3]]],
  ] as Array<[string, Array<[string, number, number]>]>)('does not enforce a launch whose siblings %s: unknown is not zero', (_, siblings) => {
    const d = decide(launched, ev(0, 0), policy, launch(siblings, 'Auto Scaling group web'));
    expect(d.verdict).toBe('insufficient-evidence');
    expect(d.reason).not.toMatch(/no sibling .* uses IMDSv1/);
  });

  const drift = (evidence: Array<[string, number, number]> = []) => ({
    now,
    event: {
      kind: 'drift' as const,
      actor: 'arn:aws:sts::1:assumed-role/Dev/bob',
      siblings: { group: 'Auto Scaling group web', evidence: evidence.map(([instanceId, calls, observedDays]) => ({ instanceId, calls, observedDays })) },
    },
  });

  it('re-enforces drift with no v1 calls on enough observed days, naming the actor', () => {
    const d = decide(instance(), ev(0, 14), policy, drift());
    expect(d.verdict).toBe('enforce');
    expect(d.reason).toMatch(/re-opened by arn:aws:sts::1:assumed-role\/Dev\/bob/);
  });

  it.each([
    ['no datapoints', 'insufficient-evidence', ev(0, 0)],
    ['3 of the 7 days required observed', 'insufficient-evidence', ev(0, 3)],
  ])('decides a re-open with %s by the sweep\'s rules: %s', (_, verdict, evidence) => {
    const d = decide(instance(), evidence, policy, drift());
    expect(d.verdict).toBe(verdict);
    expect(d.reason).not.toMatch(/\b0 IMDSv1 calls over/);
  });

  it('blocks a re-open whose siblings use IMDSv1, though its own evidence is clean', () => {
    const d = decide(instance(), ev(0, 14), policy, drift([['i-0sib', 9, 14]]));
    expect(d.verdict).toBe('blocked-v1-in-use');
  });

  it('leaves open, and reports, an instance re-opened after this tool enforced it, but not after its own revert', () => {
    const enforced = instance({}, { 'imds-remediator:enforced-at': '2026-11-20T10:00:00.000Z' });
    const d = decide(enforced, ev(0, 14), policy, drift());
    expect(d.verdict).toBe('reopened-after-enforcement');
    expect(d.reason).toMatch(/re-opened by arn:aws:sts::1:assumed-role\/Dev\/bob after this tool enforced IMDSv2 at 2026-11-20T10:00:00.000Z/);
    const reverted = instance({}, { 'imds-remediator:enforced-at': '2026-11-20T10:00:00.000Z', 'imds-remediator:reverted-at': '2026-11-21T10:00:00.000Z' });
    expect(decide(reverted, ev(0, 14, 0), policy, drift()).verdict).toBe('enforce');
  });

  it('keeps leaving open, in the sweep, a re-open the event path recorded', () => {
    const recorded = instance({}, { 'imds-remediator:enforced-at': '2026-11-20T10:00:00.000Z', 'imds-remediator:reopened-at': '2026-11-21T08:00:00.000Z' });
    expect(decide(recorded, ev(0, 14), policy, ctx).verdict).toBe('reopened-after-enforcement');
  });

  it('blocks an instance that allows IMDSv1 when its rejected calls could not be read', () => {
    const failed: Evidence = { noToken: { status: 'read', value: { calls: 0, observedDays: 14 } }, rejected: { status: 'failed', reason: 'ThrottlingException' } };
    expect(decide(instance(), failed, policy, drift()).verdict).toBe('error');
  });
});

describe('decide: the rollback watch', () => {
  const enforcedByUs = () => instance({ httpTokens: 'required' }, { 'imds-remediator:enforced-at': '2026-11-20T10:00:00.000Z' });

  it('raises v1-rejected for an instance we enforced whose workload now has v1 calls rejected', () => {
    const d = decide(enforcedByUs(), ev(0, 0, 31), policy, ctx);
    expect(d.verdict).toBe('v1-rejected');
    expect(d.reason).toMatch(/^31 IMDSv1 calls rejected .* since IMDSv2 was enforced at 2026-11-20T10:00:00.000Z.*alert only \(policy rollback: alert\)/);
  });

  it('says it will revert when the policy says rollback: revert', () => {
    const d = decide(enforcedByUs(), ev(0, 0, 1), parsePolicy({ rollback: 'revert' }), ctx);
    expect(d.reason).toMatch(/reverting to HttpTokens=optional/);
  });

  it('stays compliant when no call was rejected', () => {
    expect(decide(enforcedByUs(), ev(0, 0, 0), policy, ctx).verdict).toBe('compliant');
  });

  it.each([
    ['4 days after it', 'possible-ssrf-probe', '2026-11-24T00:00:00Z'],
    ['10 days after it', 'possible-ssrf-probe', '2026-11-30T00:00:00Z'],
  ])('calls rejected calls that began %s %s, under rollback: revert', (_, verdict, firstDay) => {
    const d = decide(enforcedByUs(), ev(0, 0, 3, new Date(firstDay)), parsePolicy({ rollback: 'revert' }), { now: new Date('2026-12-01T12:00:00Z') });
    expect(d.verdict).toBe(verdict);
  });

  it('never lets a possible SSRF probe re-open IMDSv1, whatever the policy', () => {
    expect(isChange('possible-ssrf-probe', parsePolicy({ rollback: 'revert' }), {})).toBe(false);
  });

  it('does not watch instances someone else enforced', () => {
    const d = decide(instance({ httpTokens: 'required' }), ev(0, 0, 9), policy, ctx);
    expect(d.verdict).toBe('compliant');
  });
});

describe('decide: after a revert or a re-open', () => {
  const reverted = () =>
    instance({ httpTokens: 'optional' }, { 'imds-remediator:enforced-at': '2026-11-20T10:00:00.000Z', 'imds-remediator:reverted-at': '2026-11-22T10:00:00.000Z' });

  it('does not re-enforce an instance whose v1 calls were rejected in the window, though MetadataNoToken is zero', () => {
    const d = decide(reverted(), ev(0, 14, 57), policy, ctx);
    expect(d.verdict).toBe('blocked-v1-in-use');
    expect(d.reason).toMatch(/57 IMDSv1 calls were rejected .* \(reverted at 2026-11-22T10:00:00.000Z\)/);
  });

  it('leaves drift open when calls were rejected before someone re-opened v1', () => {
    const d = decide(reverted(), ev(0, 0, 3), policy, { now, event: { kind: 'drift', actor: 'bob', siblings: { group: undefined, evidence: [] } } });
    expect(d.verdict).toBe('blocked-v1-in-use');
    expect(d.reason).toMatch(/3 IMDSv1 calls were rejected/);
  });
});

describe('decide: a hop limit is never lowered unless the policy says so', () => {
  // Amazon Linux 2023 launches with IMDSv2 required at hop limit 2 so that its containers reach IMDS.
  it.each([
    ['never', 'compliant', 2],
    ['report', 'hop-limit-above-policy', 2],
    ['apply', 'fix-hop-limit', 1],
  ] as const)('with hopLimit.lower %s, a required instance at hop 2 under a rule of 1 is %s at hop %i', (lower, verdict, hop) => {
    const d = decide(instance({ httpTokens: 'required', hopLimit: 2 }), NO_EVIDENCE, parsePolicy(testPolicy({ hopLimit: { default: 1, lower } })), ctx);
    expect(d).toMatchObject({ verdict, hopLimit: hop });
  });

  it.each([
    ['never', 2],
    ['report', 2],
    ['apply', 1],
  ] as const)('with hopLimit.lower %s, an optional instance at hop 2 is enforced at hop %i', (lower, hop) => {
    const d = decide(instance({ hopLimit: 2 }), clean, parsePolicy(testPolicy({ hopLimit: { default: 1, lower } })), ctx);
    expect(d).toMatchObject({ verdict: 'enforce', hopLimit: hop });
  });

  it('defaults hopLimit.lower to never', () => {
    expect(parsePolicy({}).hopLimit.lower).toBe('never');
  });
});

describe('decide: two-phase container remediation', () => {
  it('raises the hop limit of a container host with v1 calls below its rule, leaving IMDSv1 allowed', () => {
    const d = decide(instance({ hopLimit: 1 }, { workload: 'docker' }), ev(5, 14), policy, ctx);
    expect(d).toMatchObject({ verdict: 'raise-hop-limit', hopLimit: 2 });
  });

  it.each([
    ['a container host already at its rule', instance({ hopLimit: 2 }, { workload: 'docker' })],
    ['a plain host, whose rule wants no more than it has', instance({ hopLimit: 1 })],
  ])('blocks v1 calls on %s: raising would not change them', (_, facts) => {
    expect(decide(facts, ev(5, 14), policy, ctx).verdict).toBe('blocked-v1-in-use');
  });

  it('after a raise, measures again: blocked while the window holds v1 calls, enforced once it has none', () => {
    const raised = instance({ hopLimit: 2 }, { workload: 'docker', 'imds-remediator:hop-limit-raised-at': '2026-11-20T10:00:00.000Z' });
    expect(decide(raised, ev(5, 14), policy, ctx)).toMatchObject({ verdict: 'blocked-v1-in-use', reason: expect.stringMatching(/raised/) });
    expect(decide(raised, clean, policy, ctx)).toMatchObject({ verdict: 'enforce', hopLimit: 2 });
  });
});

describe('decide: launch rules hold for minutes, and never over the instance\'s own evidence', () => {
  const launchedAgo = (minutes: number) => ({ ...instance(), launchTime: new Date(now.getTime() - minutes * 60_000) });
  const launchEvent = { now, event: { kind: 'launch' as const, actor: 'alice', siblings: { group: undefined, evidence: [] } } };

  it('decides an instance launched 9 days ago by the sweep\'s rules, though a RunInstances event names it', () => {
    const d = decide(launchedAgo(9 * 24 * 60), ev(500, 14), policy, launchEvent);
    expect(d).toMatchObject({ verdict: 'blocked-v1-in-use', reason: expect.stringMatching(/^500 IMDSv1 calls.*sweep's rules/) });
  });

  it.each([
    ['launched 5 minutes ago, no datapoints yet', 'enforce', 5, ev(0, 0)],
    ['launched 5 minutes ago, with IMDSv1 calls of its own', 'blocked-v1-in-use', 5, ev(3, 1)],
    ['launched 16 minutes ago, no datapoints', 'insufficient-evidence', 16, ev(0, 0)],
    ['launched at an unknown time', 'insufficient-evidence', undefined, ev(0, 0)],
  ])('an instance %s is %s', (_, verdict, minutes, evidence) => {
    const facts = minutes === undefined ? { ...instance(), launchTime: undefined } : launchedAgo(minutes);
    expect(decide(facts, evidence, policy, launchEvent).verdict).toBe(verdict);
  });
});

import { describe, expect, it } from 'vitest';
import { buildFinding, isUnchangedPass, ENFORCED_AT_FIELD, REFRESH_AFTER_DAYS, STATE_FIELD, type ExistingFinding } from '../../functions/findings/asff.ts';
import type { InstanceFacts, InstanceResult } from '../../functions/domain/model.ts';
import type { Verdict } from '../../functions/domain/verdicts.ts';

const shard = { accountId: '111122223333', region: 'eu-west-1' };
const now = new Date('2026-11-23T10:00:00Z');

const facts = (over: Partial<InstanceFacts> = {}): InstanceFacts => ({
  instanceId: 'i-0123456789abcdef0',
  state: 'running',
  launchTime: new Date('2026-01-01T00:00:00Z'),
  tags: { Name: 'web' },
  metadata: { httpTokens: 'optional', httpEndpoint: 'enabled', hopLimit: 1, state: 'applied' },
  instanceProfileArn: undefined,
  ...over,
});

const result = (verdict: Verdict, over: Partial<InstanceResult> = {}): InstanceResult => ({
  ...shard,
  instanceId: 'i-0123456789abcdef0',
  verdict,
  reason: `because ${verdict}`,
  noTokenCalls: 0,
  observedDays: 14,
  hopLimit: 1,
  changed: false,
  ...over,
});

const build = (f: InstanceFacts, r: InstanceResult, existing?: ExistingFinding) =>
  buildFinding({ partition: 'aws', shard, facts: f, result: r, lookbackDays: 14, minObservedDays: 7, now, existing });

const existingFrom = (f: ReturnType<typeof build>): ExistingFinding => ({
  id: f.Id,
  complianceStatus: f.Compliance.Status,
  recordState: f.RecordState,
  state: f.ProductFields[STATE_FIELD],
  enforcedAt: f.ProductFields[ENFORCED_AT_FIELD],
  createdAt: f.CreatedAt,
  firstObservedAt: f.FirstObservedAt,
  updatedAt: f.UpdatedAt,
});

describe('buildFinding', () => {
  it('rates IMDSv1 in use on an instance with an instance profile the most severe of all', () => {
    const withProfile = facts({ instanceProfileArn: 'arn:aws:iam::111122223333:instance-profile/app' });
    const severities = (['compliant', 'fix-hop-limit', 'enforce', 'blocked-v1-in-use', 'insufficient-evidence', 'exempt', 'error'] as const).flatMap(
      (v) => [build(facts(), result(v)), build(withProfile, result(v))].map((f) => ({ v, label: f.FindingProviderFields.Severity.Label })),
    );
    const rank = ['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
    const worst = build(withProfile, result('blocked-v1-in-use', { noTokenCalls: 9 }));
    expect(worst.Severity?.Label).toBe('HIGH');
    expect(worst.FindingProviderFields.Severity.Label).toBe('HIGH');
    expect(worst.Compliance.Status).toBe('FAILED');
    expect(worst.Resources[0]?.Details.AwsEc2Instance.IamInstanceProfileArn).toBe('arn:aws:iam::111122223333:instance-profile/app');
    const others = severities.filter((s) => !(s.v === 'blocked-v1-in-use' && s.label === 'HIGH'));
    expect(Math.max(...others.map((s) => rank.indexOf(s.label)))).toBeLessThan(rank.indexOf('HIGH'));
  });

  it('marks an exempt instance FAILED (IMDSv1 is allowed), suppressed when created, with a title that says exempt', () => {
    const f = build(facts(), result('exempt'));
    expect(f.Compliance.Status).toBe('FAILED');
    expect(f.Workflow).toEqual({ Status: 'SUPPRESSED' });
    expect(f.Title).toBe('IMDSv1 allowed on i-0123456789abcdef0, exempt by policy');
    expect(f.Severity?.Label).toBe('INFORMATIONAL');
    // A provider may set the workflow only when it creates the finding.
    expect(build(facts(), result('exempt'), existingFrom(f)).Workflow).toBeUndefined();
  });

  it.each([
    ['insufficient evidence, IMDSv1 allowed', 'insufficient-evidence', { httpTokens: 'optional', httpEndpoint: 'enabled' }, 'FAILED'],
    ['an error on an instance that allows IMDSv1', 'error', { httpTokens: 'optional', httpEndpoint: 'enabled' }, 'FAILED'],
    ['an error on an instance that requires tokens', 'error', { httpTokens: 'required', httpEndpoint: 'enabled' }, 'PASSED'],
    ['a hop limit to fix on an instance that requires tokens', 'fix-hop-limit', { httpTokens: 'required', httpEndpoint: 'enabled' }, 'PASSED'],
    ['IMDS off, tokens optional', 'compliant', { httpTokens: 'optional', httpEndpoint: 'disabled' }, 'PASSED'],
    ['a terminated instance', 'gone', { httpTokens: 'optional', httpEndpoint: 'enabled' }, 'NOT_AVAILABLE'],
  ] as const)('says whether IMDSv1 is allowed, whatever the verdict: %s', (_, verdict, options, status) => {
    const f = build(facts({ metadata: { ...options, hopLimit: 1, state: 'applied' } }), result(verdict));
    expect(f.Compliance.Status).toBe(status);
  });

  it('marks insufficient evidence FAILED and says what is missing', () => {
    const f = build(facts(), result('insufficient-evidence', { observedDays: 0 }));
    expect(f.Compliance.Status).toBe('FAILED');
    expect(f.Remediation.Recommendation.Text).toMatch(/at least 7 days/);
  });

  it('describes an applied enforcement with the options EC2 now shows, PASSED, with enforced-at', () => {
    const f = build(facts({ tags: { workload: 'ecs' } }), result('enforce', { changed: true, hopLimit: 2 }));
    expect(f.Compliance.Status).toBe('PASSED');
    expect(f.Resources[0]?.Details.AwsEc2Instance.MetadataOptions).toEqual({ HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 2 });
    expect(f.ProductFields).toMatchObject({ 'imds-remediator/Verdict': 'enforce', 'imds-remediator/EnforcedAt': now.toISOString(), 'imds-remediator/Changed': 'true' });
    expect(f.Description).toMatch(/^HttpTokens=required, HttpEndpoint=enabled, hop limit 2; no instance profile\. 0 IMDSv1 calls/);
  });

  it('keeps Id stable and CreatedAt from the first import, so an update lands in place', () => {
    const first = build(facts(), result('enforce'));
    const later = buildFinding({
      partition: 'aws', shard, facts: facts(), result: result('blocked-v1-in-use', { noTokenCalls: 3 }),
      lookbackDays: 14, minObservedDays: 7, now: new Date('2026-11-24T10:00:00Z'), existing: existingFrom(first),
    });
    expect(later.Id).toBe(first.Id);
    expect(later.Id).toBe('imds-remediator/eu-west-1/111122223333/i-0123456789abcdef0');
    expect(later.CreatedAt).toBe(first.CreatedAt);
    expect(later.UpdatedAt).toBe('2026-11-24T10:00:00.000Z');
    expect(later.ProductArn).toBe('arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default');
  });

  it('treats the enforced finding and the next sweep’s compliant one as the same PASSED state', () => {
    const enforced = build(facts(), result('enforce', { changed: true }));
    const nextSweep = build(
      facts({ metadata: { httpTokens: 'required', httpEndpoint: 'enabled', hopLimit: 1, state: 'applied' }, tags: { 'imds-remediator:enforced-at': now.toISOString() } }),
      result('compliant', { noTokenCalls: null, observedDays: null }),
      existingFrom(enforced),
    );
    expect(isUnchangedPass(nextSweep, existingFrom(enforced), now)).toBe(true);
    expect(nextSweep.ProductFields['imds-remediator/EnforcedAt']).toBe(now.toISOString());
    // A hop limit changed by someone else is news, and so is a FAILED finding.
    const drifted = build(facts({ metadata: { httpTokens: 'required', httpEndpoint: 'enabled', hopLimit: 3, state: 'applied' } }), result('compliant', { hopLimit: 3 }));
    expect(isUnchangedPass(drifted, existingFrom(enforced), now)).toBe(false);
    const failed = build(facts(), result('blocked-v1-in-use'));
    expect(isUnchangedPass(failed, existingFrom(failed), now)).toBe(false);
  });

  it('records EnforcedAt only from its own enforcement, never from a tag anyone who may tag the instance can write', () => {
    const forged = facts({ metadata: { httpTokens: 'required', httpEndpoint: 'enabled', hopLimit: 1, state: 'applied' }, tags: { 'imds-remediator:enforced-at': '2026-11-01T00:00:00.000Z' } });
    const first = build(forged, result('compliant', { noTokenCalls: null, observedDays: null }));
    const next = build(forged, result('compliant', { noTokenCalls: null, observedDays: null }), existingFrom(first));
    expect(first.ProductFields).not.toHaveProperty(ENFORCED_AT_FIELD);
    expect(next.ProductFields).not.toHaveProperty(ENFORCED_AT_FIELD);
  });

  it('refreshes an unchanged PASSED finding before Security Hub would delete it', () => {
    const enforced = build(facts(), result('enforce', { changed: true }));
    const later = (days: number) => new Date(now.getTime() + days * 86_400_000);
    expect(isUnchangedPass(enforced, existingFrom(enforced), later(REFRESH_AFTER_DAYS - 1))).toBe(true);
    expect(isUnchangedPass(enforced, existingFrom(enforced), later(REFRESH_AFTER_DAYS))).toBe(false);
    expect(isUnchangedPass(enforced, { ...existingFrom(enforced), updatedAt: undefined }, now)).toBe(false);
  });

  it('sends Severity and Types only in FindingProviderFields when it updates a finding', () => {
    const first = build(facts(), result('blocked-v1-in-use'));
    const update = build(facts(), result('blocked-v1-in-use', { noTokenCalls: 7 }), existingFrom(first));
    expect(first).toMatchObject({ Severity: { Label: 'MEDIUM' }, Types: [expect.any(String)] });
    expect(update.Severity).toBeUndefined();
    expect(update.Types).toBeUndefined();
    expect(update.FindingProviderFields).toEqual({ Severity: { Label: 'MEDIUM' }, Types: first.Types });
  });

  it('stays within ASFF limits for long reasons and many tags', () => {
    const tags = Object.fromEntries(Array.from({ length: 60 }, (_, n) => [`k${n}`, 'v'.repeat(300)]));
    const f = build(facts({ tags }), result('error', { reason: 'x'.repeat(5000) }));
    expect(f.Description.length).toBeLessThanOrEqual(1024);
    expect(Object.keys(f.Resources[0]?.Tags ?? {})).toHaveLength(50);
    expect(Math.max(...Object.values(f.Resources[0]?.Tags ?? {}).map((v) => v.length))).toBeLessThanOrEqual(256);
  });
});

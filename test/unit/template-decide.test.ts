// The launch-template decision, pure: each rule with a case that meets it and one that does not.
import { describe, expect, it } from 'vitest';
import { NO_EVIDENCE, type Evidence, type InstanceFacts } from '../../functions/domain/model.ts';
import { parsePolicy, type PolicyInput } from '../../functions/domain/policy.ts';
import { decideTemplate, type TemplateFacts, type TemplateMetadata } from '../../functions/domain/templates.ts';

const policy = (overrides: PolicyInput = {}) =>
  parsePolicy({ mode: 'enforce', hopLimit: { default: 1, rules: [{ tagKey: 'workload', values: ['ecs'], hopLimit: 2 }] }, ...overrides });

const OPTIONAL: TemplateMetadata = { httpTokens: 'optional', httpEndpoint: undefined, hopLimit: 1 };
const REQUIRED: TemplateMetadata = { httpTokens: 'required', httpEndpoint: 'enabled', hopLimit: 1 };

const template = (versions: Array<[number, TemplateMetadata]>, more: Partial<TemplateFacts> = {}): TemplateFacts => ({
  launchTemplateId: 'lt-0123456789abcdef0',
  launchTemplateName: 'web',
  tags: {},
  defaultVersion: versions[0]?.[0] ?? 1,
  latestVersion: versions.at(-1)?.[0] ?? 1,
  managedBy: undefined,
  versions: new Map(versions.map(([n, metadata]) => [n, { versionNumber: n, metadata, instanceTags: {} }])),
  groups: [],
  ...more,
});

const instance = (id: string, tokens: 'optional' | 'required' = 'optional', tags: Record<string, string> = {}): InstanceFacts => ({
  instanceId: id,
  state: 'running',
  launchTime: undefined,
  tags,
  metadata: { httpTokens: tokens, httpEndpoint: 'enabled', hopLimit: 1, state: 'applied' },
  instanceProfileArn: undefined,
});

const read = (calls: number, observedDays: number, rejected = 0): Evidence => ({
  noToken: { status: 'read', value: { calls, observedDays } },
  rejected: { status: 'read', value: { calls: rejected, observedDays, firstDay: undefined } },
});

describe('decideTemplate', () => {
  it.each<{ rule: string; evidence: Evidence; tokens?: 'optional' | 'required'; verdict: string }>([
    { rule: 'zero calls on enough observed days', evidence: read(0, 14), verdict: 'fix' },
    { rule: 'any IMDSv1 call', evidence: read(3, 14), verdict: 'blocked-v1-in-use' },
    { rule: 'rejected calls count', evidence: read(0, 14, 2), verdict: 'blocked-v1-in-use' },
    { rule: 'a required instance with rejected calls', evidence: read(0, 0, 5), tokens: 'required', verdict: 'blocked-v1-in-use' },
    { rule: 'a required instance without rejected calls on enough days', evidence: read(0, 14, 0), tokens: 'required', verdict: 'fix' },
    { rule: 'a required instance with no datapoints is unknown, not zero', evidence: read(0, 0, 0), tokens: 'required', verdict: 'insufficient-evidence' },
    { rule: 'a required instance seen on fewer than minObservedDays', evidence: read(0, 3, 0), tokens: 'required', verdict: 'insufficient-evidence' },
    { rule: 'no datapoints is unknown, not zero', evidence: read(0, 0), verdict: 'insufficient-evidence' },
    { rule: 'fewer than minObservedDays', evidence: read(0, 6), verdict: 'insufficient-evidence' },
    { rule: 'a failed read is an error', evidence: { noToken: { status: 'failed', reason: 'throttled' }, rejected: NO_EVIDENCE.rejected }, verdict: 'error' },
  ])('$rule: $verdict', ({ evidence, tokens, verdict }) => {
    const d = decideTemplate(template([[1, OPTIONAL]]), [{ facts: instance('i-0000000000000001a', tokens), evidence }], policy());

    expect(d.verdict).toBe(verdict);
    expect(d.allowsV1).toBe(true);
  });

  it('is compliant when $Default requires IMDSv2, whatever its instances do', () => {
    const d = decideTemplate(template([[1, REQUIRED]]), [{ facts: instance('i-0000000000000001a'), evidence: read(50, 14) }], policy());

    expect(d).toMatchObject({ verdict: 'compliant', allowsV1: false, changes: [] });
  });

  it('never lowers a hop limit, and raises it to what the policy wants for the instances launched from it', () => {
    const high = decideTemplate(template([[1, { ...OPTIONAL, hopLimit: 3 }]]), [], policy({ launchTemplates: { unused: 'fix' } }));
    const container = decideTemplate(template([[1, OPTIONAL]]), [{ facts: instance('i-0000000000000001a', 'optional', { workload: 'ecs' }), evidence: read(0, 14) }], policy());
    const requiredLow = decideTemplate(template([[1, REQUIRED]]), [{ facts: instance('i-0000000000000001a', 'required', { workload: 'ecs' }), evidence: read(0, 14) }], policy());

    expect(high.changes).toEqual([{ sourceVersion: 1, hopLimit: 3, makeDefault: true }]);
    expect(container.changes).toEqual([{ sourceVersion: 1, hopLimit: 2, makeDefault: true }]);
    expect(requiredLow).toMatchObject({ verdict: 'fix', allowsV1: false, changes: [{ sourceVersion: 1, hopLimit: 2, makeDefault: true }] });
  });

  it('keeps an unset hop limit unset, and keeps the hop limit its instances actually run with', () => {
    const unset: TemplateMetadata = { httpTokens: undefined, httpEndpoint: undefined, hopLimit: undefined };
    const al2023 = { ...instance('i-0000000000000001a', 'required'), metadata: { httpTokens: 'required' as const, httpEndpoint: 'enabled' as const, hopLimit: 2, state: 'applied' as const } };
    const alone = decideTemplate(template([[1, unset]]), [], policy({ launchTemplates: { unused: 'fix' } }));
    const withInstance = decideTemplate(template([[1, unset]]), [{ facts: al2023, evidence: read(0, 14) }], policy());

    expect(alone.changes).toEqual([{ sourceVersion: 1, hopLimit: undefined, makeDefault: true }]);
    expect(withInstance).toMatchObject({ verdict: 'fix', changes: [{ sourceVersion: 1, hopLimit: 2, makeDefault: true }] });
  });

  it('leaves a template whose $Latest differs from $Default to a person: a new version would replace what $Latest launches', () => {
    const d = decideTemplate(template([[1, OPTIONAL], [2, REQUIRED]]), [{ facts: instance('i-0000000000000001a'), evidence: read(0, 14) }], policy());

    expect(d).toMatchObject({ verdict: 'blocked', allowsV1: true, changes: [] });
    expect(d.reason).toContain('$Latest (version 2) differs from $Default (version 1)');
  });

  it('does not fix again a template set back after its fix (a finding, not a fight with IaC)', () => {
    const d = decideTemplate(template([[3, OPTIONAL]], { tags: { 'imds-remediator:template-fixed-at': '2026-11-01T00:00:00.000Z' } }), [{ facts: instance('i-0000000000000001a'), evidence: read(0, 14) }], policy());

    expect(d).toMatchObject({ verdict: 'blocked', allowsV1: true, changes: [] });
    expect(d.reason).toContain('set back after imds-remediator');
  });

  it('does not take instances of other versions as evidence for $Default', () => {
    const d = decideTemplate(template([[2, OPTIONAL]]), [], policy({ launchTemplates: { unused: 'fix' } }), { otherVersions: 3 });

    expect(d.verdict).toBe('insufficient-evidence');
    expect(d.reason).toContain('launched from other versions, none from version 2');
  });

  it('fixes a $Latest only where a group launches it', () => {
    const unused = decideTemplate(template([[1, REQUIRED], [2, OPTIONAL]]), [], policy());
    const used = decideTemplate(template([[1, REQUIRED], [2, OPTIONAL]], { groups: [{ group: 'web', version: '$Latest' }] }), [], policy());

    expect(unused.verdict).toBe('compliant');
    // A group launches a $Latest other than $Default: a person decides.
    expect(used).toMatchObject({ verdict: 'blocked', allowsV1: true });
  });

  it('decides a template nothing runs from and no group uses by launchTemplates.unused, report by default (unknown is never zero)', () => {
    expect(decideTemplate(template([[1, OPTIONAL]]), [], policy()).verdict).toBe('insufficient-evidence');
    expect(decideTemplate(template([[1, OPTIONAL]]), [], policy({ launchTemplates: { unused: 'fix' } })).verdict).toBe('fix');
  });

  it('exempts a template by its tags, its account, or a service that manages it', () => {
    const exemptPolicy = policy({ exempt: { tags: [{ key: 'imds-exempt', values: ['true'] }] } });

    expect(decideTemplate(template([[1, OPTIONAL]], { tags: { 'imds-exempt': 'true' } }), [], exemptPolicy).verdict).toBe('exempt');
    expect(decideTemplate(template([[1, OPTIONAL]]), [], policy(), { accountExemption: 'exempt account' }).verdict).toBe('exempt');
    expect(decideTemplate(template([[1, OPTIONAL]], { managedBy: 'eks.amazonaws.com' }), [], policy()).verdict).toBe('exempt');
  });

  it('lists the groups that pin a numbered version allowing IMDSv1', () => {
    const d = decideTemplate(template([[2, REQUIRED]], { versions: new Map([[1, { versionNumber: 1, metadata: OPTIONAL, instanceTags: {} }], [2, { versionNumber: 2, metadata: REQUIRED, instanceTags: {} }]]), defaultVersion: 2, latestVersion: 2, groups: [{ group: 'old', version: '1' }, { group: 'new', version: '2' }] }), [], policy());

    expect(d).toMatchObject({ verdict: 'compliant', pinned: [{ group: 'old', version: 1 }] });
  });
});

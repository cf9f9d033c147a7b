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
    { rule: 'a required instance without rejected calls', evidence: read(0, 0, 0), tokens: 'required', verdict: 'fix' },
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
    const high = decideTemplate(template([[1, { ...OPTIONAL, hopLimit: 3 }]]), [], policy());
    const container = decideTemplate(template([[1, OPTIONAL]]), [{ facts: instance('i-0000000000000001a', 'optional', { workload: 'ecs' }), evidence: read(0, 14) }], policy());
    const requiredLow = decideTemplate(template([[1, REQUIRED]]), [{ facts: instance('i-0000000000000001a', 'required', { workload: 'ecs' }), evidence: read(0, 0) }], policy());

    expect(high.changes).toEqual([{ sourceVersion: 1, hopLimit: 3, makeDefault: true }]);
    expect(container.changes).toEqual([{ sourceVersion: 1, hopLimit: 2, makeDefault: true }]);
    expect(requiredLow).toMatchObject({ verdict: 'fix', allowsV1: false, changes: [{ sourceVersion: 1, hopLimit: 2, makeDefault: true }] });
  });

  it('copies $Latest again after $Default when they differ, so that $Latest keeps its launch data', () => {
    const d = decideTemplate(template([[1, OPTIONAL], [2, REQUIRED]]), [], policy());

    expect(d.changes).toEqual([
      { sourceVersion: 1, hopLimit: 1, makeDefault: true },
      { sourceVersion: 2, hopLimit: 1, makeDefault: false },
    ]);
  });

  it('fixes a $Latest only where a group launches it', () => {
    const unused = decideTemplate(template([[1, REQUIRED], [2, OPTIONAL]]), [], policy());
    const used = decideTemplate(template([[1, REQUIRED], [2, OPTIONAL]], { groups: [{ group: 'web', version: '$Latest' }] }), [], policy());

    expect(unused.verdict).toBe('compliant');
    // A group uses it and no instance runs: unknown.
    expect(used).toMatchObject({ verdict: 'insufficient-evidence', allowsV1: true });
  });

  it('decides a template nothing runs from and no group uses by launchTemplates.unused', () => {
    expect(decideTemplate(template([[1, OPTIONAL]]), [], policy()).verdict).toBe('fix');
    expect(decideTemplate(template([[1, OPTIONAL]]), [], policy({ launchTemplates: { unused: 'report' } })).verdict).toBe('insufficient-evidence');
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

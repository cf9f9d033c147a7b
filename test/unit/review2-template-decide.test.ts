// Reviewer repros (review2): each asserts the SAFE behaviour; expected to FAIL on 207df9f.
import { describe, expect, it } from 'vitest';
import type { Evidence, InstanceFacts } from '../../functions/domain/model.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { decideTemplate, type TemplateFacts, type TemplateMetadata } from '../../functions/domain/templates.ts';
import { copyLaunchData } from '../../functions/adapters/ec2-launch-templates.ts';

const policy = parsePolicy({ mode: 'enforce', hopLimit: { default: 1 } });
const tpl = (m: TemplateMetadata): TemplateFacts => ({
  launchTemplateId: 'lt-0123456789abcdef0', launchTemplateName: 'al2023', tags: {}, defaultVersion: 1, latestVersion: 1, managedBy: undefined,
  versions: new Map([[1, { versionNumber: 1, metadata: m, instanceTags: {} }]]), groups: [],
});
const inst = (tokens: 'optional' | 'required', hopLimit: number): InstanceFacts => ({
  instanceId: 'i-0000000000000001a', state: 'running', launchTime: undefined, tags: {},
  metadata: { httpTokens: tokens, httpEndpoint: 'enabled', hopLimit, state: 'applied' }, instanceProfileArn: undefined,
});
const ev = (calls: number, days: number, rejected = 0, rejectedDays = days): Evidence => ({
  noToken: { status: 'read', value: { calls, observedDays: days } },
  rejected: { status: 'read', value: { calls: rejected, observedDays: rejectedDays, firstDay: undefined } },
});

describe('review2 decideTemplate', () => {
  it('H1: never lowers the hop limit its instances actually run with (AMI ImdsSupport v2.0 / account default gives 2)', () => {
    // Template sets no MetadataOptions: AL2023 instances launch required + hop 2 from the AMI.
    const d = decideTemplate(tpl({ httpTokens: undefined, httpEndpoint: undefined, hopLimit: undefined }), [{ facts: inst('required', 2), evidence: ev(0, 14) }], policy);
    expect(d.verdict).toBe('fix');
    expect(d.changes[0]?.hopLimit).toBeGreaterThanOrEqual(2);
  });
  it('H2: a required instance with NO datapoints is unknown, not zero', () => {
    const d = decideTemplate(tpl({ httpTokens: 'optional', httpEndpoint: undefined, hopLimit: 1 }), [{ facts: inst('required', 1), evidence: ev(0, 0, 0, 0) }], policy);
    expect(d.verdict).toBe('insufficient-evidence');
  });
  it('H3: the copy keeps IMDS disabled when the source had it disabled', () => {
    const out = copyLaunchData({ ImageId: 'ami-1', MetadataOptions: { HttpEndpoint: 'disabled' } }, 1);
    expect(out.MetadataOptions?.HttpEndpoint).toBe('disabled');
  });
});

// The readiness for prevention as a pure function of the tree, the sweep's instance results and the
// launch templates; and the two guardrail documents built from the policy.
import { describe, expect, it } from 'vitest';
import type { InstanceResult, OrganizationTree } from '../../functions/domain/model.ts';
import { parsePolicy, type PolicyInput } from '../../functions/domain/policy.ts';
import type { Verdict } from '../../functions/domain/verdicts.ts';
import { declarativePolicyDocument, SCP_MAX_CHARS, scpDocument } from '../../functions/guardrails/documents.ts';
import {
  accountReadiness,
  attachTargets,
  instanceBlocker,
  unitReadiness,
  type ReadinessInput,
  type TemplateFact,
} from '../../functions/guardrails/readiness.ts';
import { attachCommands, renderGuardrails, type GuardrailsReport } from '../../functions/guardrails/render.ts';

const A = '111111111111';
const B = '222222222222';
const C = '333333333333';
const MGMT = '999999999999';

/** Root → Prod (A, B) → Prod/Payments (C); the management account at the root. */
const TREE: OrganizationTree = {
  units: [
    { id: 'r-root', name: 'Root', parentId: null },
    { id: 'ou-root-prod0001', name: 'Prod', parentId: 'r-root' },
    { id: 'ou-root-paym0001', name: 'Payments', parentId: 'ou-root-prod0001' },
    { id: 'ou-root-empty001', name: 'Empty', parentId: 'r-root' },
  ],
  accounts: [
    { id: MGMT, name: 'management', parentId: 'r-root' },
    { id: A, name: 'a', parentId: 'ou-root-prod0001' },
    { id: B, name: 'b', parentId: 'ou-root-prod0001' },
    { id: C, name: 'c', parentId: 'ou-root-paym0001' },
  ],
};

let next = 0;
const instance = (accountId: string, verdict: Verdict, extra: Partial<InstanceResult> = {}): InstanceResult => ({
  accountId,
  region: 'us-east-1',
  instanceId: `i-${(next++).toString(16).padStart(17, '0')}`,
  verdict,
  reason: verdict,
  noTokenCalls: 0,
  observedDays: 14,
  hopLimit: 1,
  changed: false,
  ...extra,
});

const everyAccountSwept = TREE.accounts.map((a) => ({ accountId: a.id, plannedShards: 2, sweptShards: 2 }));
const input = (over: Partial<ReadinessInput>): ReadinessInput => ({ tree: TREE, swept: everyAccountSwept, instances: [], templates: [], ...over });
const of = (accountId: string, i: ReadinessInput) => accountReadiness(i).find((a) => a.accountId === accountId);

describe('an instance stands in the way of prevention unless IMDSv2 is required (or IMDS off) with no unknown', () => {
  it.each<[Verdict, boolean, string | undefined]>([
    ['compliant', false, undefined],
    ['fix-hop-limit', false, undefined],
    ['hop-limit-above-policy', false, undefined],
    ['possible-ssrf-probe', false, undefined],
    ['gone', false, undefined],
    ['enforce', true, undefined],
    ['enforce', false, 'imdsv1-allowed'],
    ['blocked-v1-in-use', false, 'v1-in-use'],
    ['raise-hop-limit', true, 'v1-in-use'],
    ['reopened-after-enforcement', false, 'reopened'],
    ['v1-rejected', false, 'v1-rejected'],
    ['insufficient-evidence', false, 'unknown-evidence'],
    ['error', false, 'unknown-evidence'],
    ['exempt', false, 'exempt'],
  ])('%s (changed: %s) → %s', (verdict, changed, blocker) => {
    expect(instanceBlocker({ verdict, changed })).toBe(blocker);
  });
});

describe('accountReadiness', () => {
  it('says an account is ready when every instance requires IMDSv2 and every account-region answered', () => {
    const i = input({ instances: [instance(A, 'compliant'), instance(A, 'fix-hop-limit')] });

    expect(of(A, i)).toMatchObject({ ready: true, instances: 2, blockers: {}, worst: [] });
  });

  it('counts what stands in the way and names the heaviest IMDSv1 users first', () => {
    const light = instance(A, 'blocked-v1-in-use', { noTokenCalls: 3 });
    const heavy = instance(A, 'blocked-v1-in-use', { noTokenCalls: 900 });
    const unknown = instance(A, 'insufficient-evidence', { noTokenCalls: null, observedDays: 0 });
    const i = input({ instances: [light, unknown, heavy, instance(A, 'enforce'), instance(A, 'compliant')] });

    const a = of(A, i);

    expect(a).toMatchObject({ ready: false, instances: 5, v1Calls: 903, blockers: { 'v1-in-use': 2, 'unknown-evidence': 1, 'imdsv1-allowed': 1 } });
    expect(a?.worst.map((w) => w.id).slice(0, 2)).toEqual([heavy.instanceId, light.instanceId]);
  });

  it('is not ready when an account-region could not be swept, or no region was: unknown is never ready', () => {
    const swept = [
      { accountId: A, plannedShards: 2, sweptShards: 1 },
      { accountId: B, plannedShards: 0, sweptShards: 0 },
      { accountId: C, plannedShards: 1, sweptShards: 1 },
    ];
    const i = input({ swept, instances: [instance(A, 'compliant'), instance(C, 'compliant')] });

    expect(of(A, i)).toMatchObject({ ready: false, blockers: { unreadable: 1 } });
    expect(of(B, i)).toMatchObject({ ready: false, blockers: { unreadable: 1 } });
    expect(of(C, i)?.ready).toBe(true);
    expect(of(MGMT, i)).toMatchObject({ ready: false, blockers: { 'not-swept': 1 } });
  });

  it('is not ready while a launch template allows IMDSv1, and names it; templates that require IMDSv2 do not count', () => {
    const templates: TemplateFact[] = [
      { accountId: A, region: 'eu-west-1', launchTemplateId: 'lt-0aaaaaaaaaaaaaaaa', launchTemplateName: 'web', allowsV1: true },
      { accountId: B, region: 'eu-west-1', launchTemplateId: 'lt-0bbbbbbbbbbbbbbbb', launchTemplateName: 'batch', allowsV1: false },
    ];
    const i = input({ instances: [instance(A, 'compliant'), instance(B, 'compliant')], templates });

    expect(of(A, i)).toMatchObject({ ready: false, blockers: { 'template-allows-v1': 1 } });
    expect(of(A, i)?.worst).toEqual([{ region: 'eu-west-1', id: 'lt-0aaaaaaaaaaaaaaaa', name: 'web', blocker: 'template-allows-v1', noTokenCalls: null }]);
    expect(of(B, i)?.ready).toBe(true);
  });
});

describe('unitReadiness and where to attach', () => {
  const ready = (...ids: string[]) => (id: string) => ids.includes(id);

  it('makes an OU ready when every account below it, at any depth, is ready; empty OUs are left out', () => {
    const units = unitReadiness(TREE, ready(A, B, C));

    expect(units.map((u) => [u.path, u.readyAccounts, u.accounts, u.ready])).toEqual([
      ['Root', 3, 4, false],
      ['Root/Prod', 3, 3, true],
      ['Root/Prod/Payments', 1, 1, true],
    ]);
  });

  it('keeps a parent not ready for one account deep below it', () => {
    const units = unitReadiness(TREE, ready(A, B));

    expect(units.find((u) => u.path === 'Root/Prod')).toMatchObject({ ready: false, readyAccounts: 2, accounts: 3 });
  });

  it('attaches to the highest ready OU only, to a lone ready account, and never to the management account', () => {
    const accounts = accountReadiness(input({ instances: [instance(A, 'compliant'), instance(B, 'compliant'), instance(C, 'compliant')] }));
    const units = unitReadiness(TREE, ready(A, B, C, MGMT));

    expect(attachTargets(units, accounts, MGMT)).toEqual([{ id: 'r-root', name: 'Root', kind: 'root' }]);

    const notAll = unitReadiness(TREE, ready(A, C));
    const someReady = accounts.map((a) => ({ ...a, ready: a.accountId === A || a.accountId === C || a.accountId === MGMT }));
    expect(attachTargets(notAll, someReady, MGMT)).toEqual([
      { id: 'ou-root-paym0001', name: 'Root/Prod/Payments', kind: 'ou' },
      { id: A, name: 'a', kind: 'account' },
    ]);
  });

  it('survives a tree with a cycle without looping', () => {
    const cyclic: OrganizationTree = {
      units: [
        { id: 'ou-x-00000001', name: 'X', parentId: 'ou-x-00000002' },
        { id: 'ou-x-00000002', name: 'Y', parentId: 'ou-x-00000001' },
      ],
      accounts: [{ id: A, name: 'a', parentId: 'ou-x-00000001' }],
    };

    expect(unitReadiness(cyclic, ready(A)).map((u) => u.accounts)).toEqual([1, 1]);
  });
});

describe('the guardrail documents', () => {
  const policy = (over: PolicyInput = {}) => parsePolicy({ mode: 'report', ...over });

  it('denies a launch without IMDSv2, a re-opening outside the break-glass role, and a hop limit above the policy’s highest', () => {
    const scp = JSON.parse(scpDocument(policy({ hopLimit: { default: 1, rules: [{ tagKey: 'eks:*', hopLimit: 3 }] } }), 'aws')) as {
      Statement: Array<{ Sid: string; Action: string; Resource: string; Condition: unknown }>;
    };

    expect(scp.Statement.map((s) => [s.Sid, s.Action, s.Resource])).toEqual([
      ['RequireImdsV2AtLaunch', 'ec2:RunInstances', 'arn:aws:ec2:*:*:instance/*'],
      ['DenyReopeningImdsV1', 'ec2:ModifyInstanceMetadataOptions', 'arn:aws:ec2:*:*:instance/*'],
      ['ImdsHopLimitCeiling', 'ec2:RunInstances', 'arn:aws:ec2:*:*:instance/*'],
    ]);
    expect(scp.Statement[1]?.Condition).toEqual({
      StringNotEquals: { 'ec2:Attribute/HttpTokens': 'required' },
      Null: { 'ec2:Attribute/HttpTokens': 'false' },
      ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::*:role/ImdsV1BreakGlass'] },
    });
    expect(scp.Statement[2]?.Condition).toEqual({ NumericGreaterThan: { 'ec2:MetadataHttpPutResponseHopLimit': '3' } });
  });

  it('writes the partition of the caller into every ARN', () => {
    expect(scpDocument(policy(), 'aws-us-gov')).not.toMatch(/arn:aws:/);
    expect(scpDocument(policy(), 'aws-us-gov')).toContain('arn:aws-us-gov:iam::*:role/ImdsV1BreakGlass');
  });

  it('stays under the 5,120-character SCP limit with the longest break-glass pattern the policy accepts, and the member role', () => {
    const longest = `arn:aws:iam::*:role/${'p'.repeat(400)}`;
    const text = scpDocument(policy({ rollback: 'revert', memberRoleName: 'm'.repeat(64), guardrails: { breakGlassRole: longest } }), 'aws-iso-b');

    expect(text.length).toBeLessThanOrEqual(SCP_MAX_CHARS);
  });

  it('refuses a break-glass role that is neither a role name nor a role ARN pattern, naming the field', () => {
    expect(() => policy({ guardrails: { breakGlassRole: 'arn:aws:iam::*:user/alice' } })).toThrow(/guardrails\.breakGlassRole/);
  });

  it('sets IMDSv2 required, enforced and the highest hop limit as the EC2 declarative defaults', () => {
    const doc = JSON.parse(declarativePolicyDocument(policy({ hopLimit: { default: 1, rules: [{ tagKey: 'workload', hopLimit: 2 }] } }))) as {
      ec2_attributes: { instance_metadata_defaults: Record<string, { '@@assign': string }> };
    };

    expect(doc.ec2_attributes.instance_metadata_defaults).toEqual({
      http_tokens: { '@@assign': 'required' },
      http_put_response_hop_limit: { '@@assign': '2' },
      http_endpoint: { '@@assign': 'enabled' },
      instance_metadata_tags: { '@@assign': 'no_preference' },
      http_tokens_enforced: { '@@assign': 'enabled' },
    });
  });
});

describe('the printed view', () => {
  const files = { scp: 'out dir/scp.json', scpChars: 900, declarativePolicy: 'out dir/dp.json' };

  it('prints create and attach commands only for the targets, quoting paths, and none when nothing is ready', () => {
    const commands = attachCommands(files, [{ id: 'ou-root-prod0001', name: 'Root/Prod', kind: 'ou' }], ['r-root']);

    expect(commands.filter((c) => c.includes('attach-policy'))).toEqual([
      'aws organizations attach-policy --policy-id "$SCP_ID" --target-id ou-root-prod0001',
      'aws organizations attach-policy --policy-id "$DP_ID" --target-id ou-root-prod0001',
    ]);
    expect(commands.join('\n')).toContain("--content 'file://out dir/scp.json'");
    expect(attachCommands(files, [], ['r-root'])).toEqual([]);
  });

  it('keeps control characters of an OU name out of the terminal and out of a command comment', () => {
    const evil = 'Prod\n rm -rf / #';
    const commands = attachCommands(files, [{ id: 'ou-root-prod0001', name: evil, kind: 'ou' }], ['r-root']);
    const report: GuardrailsReport = {
      ready: false,
      summary: { accounts: 1, readyAccounts: 1, units: 1, readyUnits: 1, sweepErrors: 0 },
      errors: [],
      units: [{ id: 'ou-root-prod0001', name: evil, path: `Root/${evil}`, parentId: 'r-root', accounts: 1, readyAccounts: 1, ready: true }],
      accounts: [],
      files,
      targets: [],
      commands,
    };

    expect(commands.some((c) => c.startsWith(' rm'))).toBe(false);
    expect(renderGuardrails(report).split('\n').some((l) => l.trimStart().startsWith('rm -rf'))).toBe(false);
  });
});

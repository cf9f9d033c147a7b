// The readiness for prevention as a pure function of the tree, the sweep's instance results and the
// launch templates; and the two guardrail documents built from the policy.
import { describe, expect, it } from 'vitest';
import type { InstanceResult, OrganizationTree } from '../../functions/domain/model.ts';
import { parsePolicy, type PolicyInput } from '../../functions/domain/policy.ts';
import { sweepOrganizationSchema } from '../../functions/app/step-payloads.ts';
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

const everyAccountSwept = TREE.accounts.map((a) => ({ accountId: a.id, plannedShards: 2, sweptShards: 2, unsweptRegions: [] }));
/** The SCP's hop-limit ceiling in these tests. */
const CEILING = 3;
const input = (over: Partial<ReadinessInput>): ReadinessInput => ({ tree: TREE, swept: everyAccountSwept, instances: [], templates: [], hopCeiling: CEILING, ...over });
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
    expect(instanceBlocker({ verdict, changed, noTokenCalls: 0, hopLimit: 1 }, CEILING)).toBe(blocker);
  });

  it('keeps a forced enforcement with IMDSv1 calls in the window, or without evidence, in the way', () => {
    expect(instanceBlocker({ verdict: 'enforce', changed: true, noTokenCalls: 500, hopLimit: 1 }, CEILING)).toBe('v1-in-use');
    expect(instanceBlocker({ verdict: 'enforce', changed: false, noTokenCalls: 500, hopLimit: 1 }, CEILING)).toBe('v1-in-use');
    expect(instanceBlocker({ verdict: 'enforce', changed: true, noTokenCalls: null, hopLimit: 1 }, CEILING)).toBe('unknown-evidence');
  });

  it('keeps an instance whose hop limit is above the SCP ceiling in the way, and not one at it', () => {
    expect(instanceBlocker({ verdict: 'hop-limit-above-policy', changed: false, noTokenCalls: 0, hopLimit: CEILING + 1 }, CEILING)).toBe('hop-above-ceiling');
    expect(instanceBlocker({ verdict: 'compliant', changed: false, noTokenCalls: 0, hopLimit: CEILING + 1 }, CEILING)).toBe('hop-above-ceiling');
    expect(instanceBlocker({ verdict: 'hop-limit-above-policy', changed: false, noTokenCalls: 0, hopLimit: CEILING }, CEILING)).toBeUndefined();
    expect(instanceBlocker({ verdict: 'gone', changed: false, noTokenCalls: 0, hopLimit: CEILING + 1 }, CEILING)).toBeUndefined();
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
      { accountId: A, plannedShards: 2, sweptShards: 1, unsweptRegions: [] },
      { accountId: B, plannedShards: 0, sweptShards: 0, unsweptRegions: [] },
      { accountId: C, plannedShards: 1, sweptShards: 1, unsweptRegions: [] },
    ];
    const i = input({ swept, instances: [instance(A, 'compliant'), instance(C, 'compliant')] });

    expect(of(A, i)).toMatchObject({ ready: false, blockers: { unreadable: 1 } });
    expect(of(B, i)).toMatchObject({ ready: false, blockers: { unreadable: 1 } });
    expect(of(C, i)?.ready).toBe(true);
    expect(of(MGMT, i)).toMatchObject({ ready: false, blockers: { 'not-swept': 1 } });
  });

  it('is not ready while an enabled region was left out of the sweep, naming it, or when that is unknown', () => {
    const swept = [
      { accountId: A, plannedShards: 1, sweptShards: 1, unsweptRegions: ['ap-south-1', 'eu-west-1'] },
      { accountId: B, plannedShards: 1, sweptShards: 1, unsweptRegions: undefined },
      { accountId: C, plannedShards: 1, sweptShards: 1, unsweptRegions: [] },
    ];
    const i = input({ swept, instances: [instance(A, 'compliant'), instance(B, 'compliant'), instance(C, 'compliant')] });

    expect(of(A, i)).toMatchObject({ ready: false, blockers: { 'regions-not-swept': 2 }, unsweptRegions: ['ap-south-1', 'eu-west-1'] });
    expect(of(B, i)).toMatchObject({ ready: false, blockers: { 'regions-not-swept': 1 } });
    expect(of(C, i)?.ready).toBe(true);
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

describe('the organization file the deployed plan writes for the report', () => {
  const file = { tree: { units: [{ id: 'r-abcd', name: 'Root', parentId: null }], accounts: [] }, plannedShards: { [A]: 1 } };

  it('carries the enabled regions left unswept per account, and reads an older file without them as unknown', () => {
    expect(sweepOrganizationSchema.parse({ ...file, unsweptRegions: { [A]: ['eu-west-1'] } }).unsweptRegions).toEqual({ [A]: ['eu-west-1'] });
    expect(sweepOrganizationSchema.parse(file).unsweptRegions).toBeUndefined();
  });

  it('refuses unswept regions that are not regions, or more than the bound, naming the field', () => {
    const refused = (unsweptRegions: unknown) => sweepOrganizationSchema.safeParse({ ...file, unsweptRegions }).error?.issues[0]?.path.join('.');

    expect(refused({ [A]: ['not a region; rm -rf /'] })).toBe(`unsweptRegions.${A}.0`);
    expect(refused({ [A]: Array.from({ length: 65 }, () => 'us-east-1') })).toBe(`unsweptRegions.${A}`);
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
      ['ImdsHopLimitCeilingOnChange', 'ec2:ModifyInstanceMetadataOptions', 'arn:aws:ec2:*:*:instance/*'],
    ]);
    // No break-glass role by default: nobody but the org admin (detaching it) re-opens IMDSv1.
    expect(scp.Statement[1]?.Condition).toEqual({
      StringNotEquals: { 'ec2:Attribute/HttpTokens': 'required' },
      Null: { 'ec2:Attribute/HttpTokens': 'false' },
    });
    expect(scp.Statement[2]?.Condition).toEqual({ NumericGreaterThan: { 'ec2:MetadataHttpPutResponseHopLimit': '3' } });
    expect(scp.Statement[3]?.Condition).toEqual({
      NumericGreaterThan: { 'ec2:Attribute/HttpPutResponseHopLimit': '3' },
      Null: { 'ec2:Attribute/HttpPutResponseHopLimit': 'false' },
    });
  });

  it('lets the pinned break-glass role, and under rollback: revert the tool’s member role, re-open IMDSv1', () => {
    const breakGlassRole = 'arn:aws:iam::123456789012:role/security/ImdsBreakGlass*';
    const scp = JSON.parse(scpDocument(policy({ rollback: 'revert', guardrails: { breakGlassRole } }), 'aws')) as { Statement: Array<{ Condition: Record<string, unknown> }> };

    expect(scp.Statement[1]?.Condition.ArnNotLike).toEqual({ 'aws:PrincipalArn': [breakGlassRole, 'arn:aws:iam::*:role/ImdsRemediatorMemberRole'] });
  });

  it('writes the partition of the caller into every ARN', () => {
    const scp = scpDocument(policy({ rollback: 'revert' }), 'aws-us-gov');
    expect(scp).not.toMatch(/arn:aws:/);
    expect(scp).toContain('arn:aws-us-gov:iam::*:role/ImdsRemediatorMemberRole');
  });

  it('stays under the 5,120-character SCP limit with the longest break-glass ARN the policy accepts, and the member role', () => {
    // 37 characters up to role/, 206 path segments `p/`, a 63-character name: 512 in all.
    const longest = `arn:aws-iso-b:iam::123456789012:role/${'p/'.repeat(206)}${'r'.repeat(63)}`;
    const p = policy({ rollback: 'revert', memberRoleName: 'm'.repeat(64), guardrails: { breakGlassRole: longest } });
    const text = scpDocument(p, 'aws-iso-b');

    expect(p.guardrails.breakGlassRole).toHaveLength(512);
    expect(text).toContain(longest);
    expect(text.length).toBeLessThanOrEqual(SCP_MAX_CHARS);
  });

  it.each([
    ['a bare role name, which any member account could create', 'ImdsV1BreakGlass'],
    ['any account', 'arn:aws:iam::*:role/ImdsV1BreakGlass'],
    ['a wildcard-only role name', 'arn:aws:iam::123456789012:role/*'],
    ['a wildcard in the path', 'arn:aws:iam::123456789012:role/*/BreakGlass'],
    ['a user', 'arn:aws:iam::123456789012:user/alice'],
  ])('refuses %s as the break-glass role, naming the field', (_, breakGlassRole) => {
    expect(() => policy({ guardrails: { breakGlassRole } })).toThrow(/guardrails\.breakGlassRole/);
  });

  it('accepts a break-glass role ARN pinned to an account, with a path and a wildcard after the name’s first character', () => {
    expect(policy({ guardrails: { breakGlassRole: 'arn:aws:iam::123456789012:role/ops/Break?lass*' } }).guardrails.breakGlassRole).toBe(
      'arn:aws:iam::123456789012:role/ops/Break?lass*',
    );
  });

  it('sets IMDSv2 required and enforced, and the policy’s default hop limit (not the ceiling), as the EC2 declarative defaults', () => {
    const doc = JSON.parse(declarativePolicyDocument(policy({ hopLimit: { default: 1, rules: [{ tagKey: 'workload', hopLimit: 2 }] } }))) as {
      ec2_attributes: { instance_metadata_defaults: Record<string, { '@@assign': string }> };
    };

    expect(doc.ec2_attributes.instance_metadata_defaults).toEqual({
      http_tokens: { '@@assign': 'required' },
      http_put_response_hop_limit: { '@@assign': '1' },
      http_endpoint: { '@@assign': 'enabled' },
      instance_metadata_tags: { '@@assign': 'no_preference' },
      http_tokens_enforced: { '@@assign': 'enabled' },
    });
  });

  it('leaves http_tokens_enforced out under rollback: revert, which would otherwise refuse the tool’s own revert', () => {
    const doc = JSON.parse(declarativePolicyDocument(policy({ rollback: 'revert' }))) as {
      ec2_attributes: { instance_metadata_defaults: Record<string, unknown> };
    };

    expect(doc.ec2_attributes.instance_metadata_defaults).not.toHaveProperty('http_tokens_enforced');
    expect(doc.ec2_attributes.instance_metadata_defaults).toHaveProperty('http_tokens');
  });
});

describe('the printed view', () => {
  const files = { scp: 'out dir/scp.json', scpChars: 900, declarativePolicy: 'out dir/dp.json' };

  it('prints create and attach commands only for the targets, quoting paths, and none when nothing is ready', () => {
    const commands = attachCommands(files, [{ id: 'ou-root-prod0001', name: 'Root/Prod', kind: 'ou' }], ['r-root']);

    expect(commands.filter((c) => c.includes('attach-policy'))).toEqual([
      'aws organizations attach-policy --policy-id "$DP_ID" --target-id ou-root-prod0001',
      'aws organizations attach-policy --policy-id "$SCP_ID" --target-id ou-root-prod0001',
    ]);
    expect(commands.join('\n')).toContain("--content 'file://out dir/scp.json'");
    expect(attachCommands(files, [], ['r-root'])).toEqual([]);
  });

  it('attaches the declarative policy first, then the SCP after a note on the launches it denies', () => {
    const commands = attachCommands(files, [{ id: 'ou-root-prod0001', name: 'Root/Prod', kind: 'ou' }], ['r-root']);
    const at = (pattern: RegExp) => commands.findIndex((c) => pattern.test(c));

    expect(at(/attach-policy --policy-id "\$DP_ID"/)).toBeGreaterThan(at(/DP_ID=\$\(/));
    expect(at(/SCP_ID=\$\(/)).toBeGreaterThan(at(/attach-policy --policy-id "\$DP_ID"/));
    expect(at(/attach-policy --policy-id "\$SCP_ID"/)).toBeGreaterThan(at(/SCP_ID=\$\(/));
    expect(commands[at(/SCP_ID=\$\(/) - 1]).toMatch(/^# .*denies every launch that does not explicitly ask for IMDSv2.*--metadata-options/);
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

    // Each command is one line: the name's newline must not start a line of its own.
    expect(commands.filter((c) => c.includes('Prod'))).toEqual(['# ou Prod? rm -rf / #', '# ou Prod? rm -rf / #']);
    expect(commands.every((c) => !/[\n\r]/.test(c))).toBe(true);
    expect(renderGuardrails(report).split('\n').some((l) => l.trimStart().startsWith('rm -rf'))).toBe(false);
  });

  it('names the enabled regions the sweep left out of a not-ready account', () => {
    const swept = [{ accountId: A, plannedShards: 1, sweptShards: 1, unsweptRegions: ['ap-south-1', 'eu-west-1'] }];
    const accounts = accountReadiness(input({ swept, instances: [instance(A, 'compliant')] })).filter((a) => a.accountId === A);
    const report: GuardrailsReport = {
      ready: false,
      summary: { accounts: 1, readyAccounts: 0, units: 0, readyUnits: 0, sweepErrors: 0 },
      errors: [],
      units: [],
      accounts,
      files,
      targets: [],
      commands: [],
    };

    expect(renderGuardrails(report)).toContain('2 enabled regions outside the policy scope, never swept (an SCP and a declarative policy apply in every region; guardrails --all-regions reads them) (ap-south-1, eu-west-1)');
    expect(renderGuardrails({ ...report, warnings: ['the management account could not be identified'] })).toContain(
      'Warning: the management account could not be identified.',
    );
  });

  it('keeps bidi overrides and line separators of a name out of the terminal', () => {
    const evil = 'Prod\u202Edl\u2066o\u2028x\u2029';
    const [line] = attachCommands(files, [{ id: 'ou-root-prod0001', name: evil, kind: 'ou' }], ['r-root']).filter((c) => c.startsWith('# ou'));

    expect(line).toBe('# ou Prod?dl?o?x?');
  });
});

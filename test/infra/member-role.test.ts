import { describe, expect, it } from 'vitest';
import { CLOUDWATCH_IAM_ACTIONS } from '../../functions/adapters/cloudwatch.ts';
import { EC2_IAM_ACTIONS } from '../../functions/adapters/ec2.ts';
import { LAUNCH_TEMPLATE_IAM_ACTIONS } from '../../functions/adapters/ec2-launch-templates.ts';
import { AUTOSCALING_IAM_ACTIONS } from '../../functions/adapters/autoscaling.ts';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON, TAG_TEMPLATE_FIXED_AT } from '../../functions/domain/tags.ts';
import { actionsOf, readYamlTemplate, resolveConditions, roleStatements, type Json, type Statement, type Template } from '../support/cfn.ts';
import { decision, substitute, type Request } from '../support/iam.ts';
import { SECURITYHUB_IAM_ACTIONS } from '../../functions/adapters/securityhub.ts';
import { CLOUDTRAIL_IAM_ACTIONS } from '../../functions/adapters/cloudtrail.ts';
import { EVENTBRIDGE_IAM_ACTIONS } from '../../functions/adapters/eventbridge.ts';
import { SECURITYHUB_STATE_IAM_ACTIONS } from '../../functions/adapters/securityhub-state.ts';

/** What `doctor` reads inside a member account, through the member role. */
const DOCTOR_ACTIONS = [...CLOUDTRAIL_IAM_ACTIONS, ...EVENTBRIDGE_IAM_ACTIONS, ...SECURITYHUB_STATE_IAM_ACTIONS];

/** Everything the adapters call inside a member account, through the member role. */
const MEMBER_ACCOUNT_ACTIONS = [
  ...new Set([...EC2_IAM_ACTIONS, ...LAUNCH_TEMPLATE_IAM_ACTIONS, ...AUTOSCALING_IAM_ACTIONS, ...CLOUDWATCH_IAM_ACTIONS, ...SECURITYHUB_IAM_ACTIONS, ...DOCTOR_ACTIONS]),
];

const memberRole = () => {
  const template = readYamlTemplate('infra/member-role.yml');
  const role = template.Resources.MemberRole;
  if (!role) throw new Error('infra/member-role.yml has no MemberRole');
  return { role, statements: roleStatements(template).get('MemberRole') ?? [] };
};

/** The template's statements for a role, as deployed with these parameter values (others at their defaults). */
const deployedStatements = (role: string, values: Record<string, string> = {}): Statement[] => {
  const template: Template = readYamlTemplate('infra/member-role.yml');
  const defaults = Object.fromEntries(
    Object.entries(template.Parameters ?? {}).map(([name, p]) => [name, String((p as { Default?: Json }).Default ?? '')]),
  );
  const parameters = { 'AWS::Partition': 'aws', 'AWS::AccountId': ACCOUNT, ...defaults, ...values };
  return (roleStatements(resolveConditions(template, parameters)).get(role) ?? []).map(
    (statement) => substitute(statement as unknown as Json, parameters) as unknown as Statement,
  );
};

const ACCOUNT = '123456789012';
const TEMPLATE_ARN = `arn:aws:ec2:eu-west-1:${ACCOUNT}:launch-template/lt-0123456789abcdef0`;
const INSTANCE_ARN = `arn:aws:ec2:eu-west-1:${ACCOUNT}:instance/i-0123456789abcdef0`;

/** A ModifyInstanceMetadataOptions request with these options (the ec2:Attribute/<name> keys). */
const modify = (options: Record<string, string>) => ({
  action: 'ec2:ModifyInstanceMetadataOptions',
  context: Object.fromEntries(Object.entries(options).map(([name, value]) => [`ec2:Attribute/${name}`, value])),
});
const required = (hopLimit: string) => ({ HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: hopLimit });

describe('member role (infra/member-role.yml)', () => {
  it.each<{ what: string; parameters: Record<string, string>; options: Record<string, string>; expected: string }>([
    { what: 'requires IMDSv2 with hop limit 1', parameters: {}, options: required('1'), expected: 'allowed' },
    { what: 'requires IMDSv2 with hop limit 2 (a container host)', parameters: {}, options: required('2'), expected: 'allowed' },
    { what: 'sets a hop limit above MaxHopLimit', parameters: {}, options: required('3'), expected: 'implicitly denied' },
    { what: 'sets hop limit 64', parameters: {}, options: required('64'), expected: 'implicitly denied' },
    { what: 'sets a hop limit below MinHopLimit', parameters: { MinHopLimit: '2' }, options: required('1'), expected: 'implicitly denied' },
    { what: 'disables the metadata endpoint', parameters: {}, options: { ...required('1'), HttpEndpoint: 'disabled' }, expected: 'implicitly denied' },
    { what: 're-opens IMDSv1', parameters: {}, options: { ...required('1'), HttpTokens: 'optional' }, expected: 'implicitly denied' },
    { what: 're-opens IMDSv1 where AllowRevert is true', parameters: { AllowRevert: 'true' }, options: { ...required('1'), HttpTokens: 'optional' }, expected: 'allowed' },
    // EC2 keeps what a call leaves out: a raise-hop-limit sends the hop limit alone.
    { what: 'sends only a hop limit within the range (a raise)', parameters: {}, options: { HttpPutResponseHopLimit: '2' }, expected: 'allowed' },
    { what: 'sends only a hop limit above MaxHopLimit', parameters: {}, options: { HttpPutResponseHopLimit: '3' }, expected: 'implicitly denied' },
    { what: 'sends only HttpTokens=optional', parameters: {}, options: { HttpTokens: 'optional' }, expected: 'implicitly denied' },
    { what: 'sends only HttpEndpoint=disabled', parameters: {}, options: { HttpEndpoint: 'disabled' }, expected: 'implicitly denied' },
    { what: 'leaves the hop limit out', parameters: {}, options: { HttpTokens: 'required', HttpEndpoint: 'enabled' }, expected: 'allowed' },
  ])('ModifyInstanceMetadataOptions that $what is $expected', ({ parameters, options, expected }) => {
    expect(decision(deployedStatements('MemberRole', parameters), modify(options))).toBe(expected);
  });

  it('pins ModifyInstanceMetadataOptions with the request-attribute keys, from the stack parameters', () => {
    const enforce = memberRole().statements.find((s) => [s.Action].flat().includes('ec2:ModifyInstanceMetadataOptions'));

    expect(enforce?.Condition).toEqual({
      StringEqualsIfExists: {
        'ec2:Attribute/HttpEndpoint': 'enabled',
        'ec2:Attribute/HttpTokens': { 'Fn::If': ['RevertAllowed', ['required', 'optional'], ['required']] },
      },
      NumericGreaterThanEqualsIfExists: { 'ec2:Attribute/HttpPutResponseHopLimit': { Ref: 'MinHopLimit' } },
      NumericLessThanEqualsIfExists: { 'ec2:Attribute/HttpPutResponseHopLimit': { Ref: 'MaxHopLimit' } },
    });
    expect(readYamlTemplate('infra/member-role.yml').Parameters).toMatchObject({
      MinHopLimit: { Type: 'Number', Default: 1, MinValue: 1, MaxValue: 64 },
      MaxHopLimit: { Type: 'Number', Default: 2, MinValue: 1, MaxValue: 64 },
      AllowRevert: { Default: 'false', AllowedValues: ['false', 'true'] },
    });
  });

  it('gives planning a role that can read regions and nothing else, assumable only by sweep-plan', () => {
    const template = readYamlTemplate('infra/member-role.yml');
    const trust = (template.Resources.PlanRole?.Properties.AssumeRolePolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement;
    const plan = deployedStatements('PlanRole');

    expect(actionsOf(plan)).toEqual(['ec2:DescribeRegions']);
    expect(decision(plan, modify(required('1')))).toBe('implicitly denied');
    expect(trust).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${CentralAccountId}:root' } },
        Condition: {
          StringEquals: { 'aws:PrincipalOrgID': { Ref: 'OrganizationId' } },
          ArnEquals: { 'aws:PrincipalArn': { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${CentralAccountId}:role/${ServiceName}-${CentralStage}-sweep-plan' } },
        },
      }),
    ]);
    expect(template.Resources.PlanRole?.Properties.RoleName).toEqual({ Ref: 'PlanRoleName' });
  });

  it('allows exactly the actions the adapters call in member accounts, nothing more', () => {
    const { statements } = memberRole();

    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(new Set(actionsOf(statements))).toEqual(new Set(MEMBER_ACCOUNT_ACTIONS));
    // Each action in one statement, but CreateTags: on launch templates only with FixLaunchTemplates=true.
    expect(actionsOf(statements).filter((a) => a !== 'ec2:CreateTags')).toHaveLength(MEMBER_ACCOUNT_ACTIONS.length - 1);
  });

  it('limits ModifyInstanceMetadataOptions to instances, CreateTags to instances and launch templates, and tags to our own keys', () => {
    const { statements } = memberRole();
    const byAction = (action: string) => statements.find((s) => [s.Action].flat().includes(action));
    const tagging = statements.filter((s) => [s.Action].flat().includes('ec2:CreateTags'));

    expect(byAction('ec2:ModifyInstanceMetadataOptions')?.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*' });
    expect(tagging.map((s) => s.Resource)).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:launch-template/*' },
    ]);
    for (const s of tagging) {
      expect(s.Condition).toEqual({
        'ForAllValues:StringLike': { 'aws:TagKeys': 'imds-remediator:*' },
        Null: { 'aws:TagKeys': 'false' },
      });
    }
    // The keys the code writes are the keys the condition allows.
    for (const key of [TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON, TAG_TEMPLATE_FIXED_AT]) expect(key).toMatch(/^imds-remediator:/);
  });

  // Writing a launch template can run any code under the instance profile of a group on
  // $Default/$Latest (docs/SECURITY.md): the stack grants it only with FixLaunchTemplates=true.
  it.each<{ what: string; request: Request; whenFalse: string; whenTrue: string }>([
    { what: 'a new launch-template version', request: { action: 'ec2:CreateLaunchTemplateVersion', context: {}, resource: TEMPLATE_ARN }, whenFalse: 'implicitly denied', whenTrue: 'allowed' },
    { what: 'a new default version', request: { action: 'ec2:ModifyLaunchTemplate', context: {}, resource: TEMPLATE_ARN }, whenFalse: 'implicitly denied', whenTrue: 'allowed' },
    { what: 'our tags on a launch template', request: { action: 'ec2:CreateTags', context: { 'aws:TagKeys': [TAG_TEMPLATE_FIXED_AT, TAG_REASON] }, resource: TEMPLATE_ARN }, whenFalse: 'implicitly denied', whenTrue: 'allowed' },
    { what: 'reading launch templates', request: { action: 'ec2:DescribeLaunchTemplates', context: {} }, whenFalse: 'allowed', whenTrue: 'allowed' },
    { what: 'reading launch-template versions', request: { action: 'ec2:DescribeLaunchTemplateVersions', context: {} }, whenFalse: 'allowed', whenTrue: 'allowed' },
    { what: 'a foreign tag on a launch template', request: { action: 'ec2:CreateTags', context: { 'aws:TagKeys': ['Name'] }, resource: TEMPLATE_ARN }, whenFalse: 'implicitly denied', whenTrue: 'implicitly denied' },
    { what: 'deleting a launch template', request: { action: 'ec2:DeleteLaunchTemplate', context: {}, resource: TEMPLATE_ARN }, whenFalse: 'implicitly denied', whenTrue: 'implicitly denied' },
    { what: 'deleting a launch-template version', request: { action: 'ec2:DeleteLaunchTemplateVersions', context: {}, resource: TEMPLATE_ARN }, whenFalse: 'implicitly denied', whenTrue: 'implicitly denied' },
    { what: 'a new launch template', request: { action: 'ec2:CreateLaunchTemplate', context: {} }, whenFalse: 'implicitly denied', whenTrue: 'implicitly denied' },
    { what: 'changing an Auto Scaling group', request: { action: 'autoscaling:UpdateAutoScalingGroup', context: {} }, whenFalse: 'implicitly denied', whenTrue: 'implicitly denied' },
    { what: 'launching an instance', request: { action: 'ec2:RunInstances', context: {} }, whenFalse: 'implicitly denied', whenTrue: 'implicitly denied' },
  ])('launch templates: $what is $whenFalse by default, $whenTrue with FixLaunchTemplates=true', ({ request, whenFalse, whenTrue }) => {
    expect(decision(deployedStatements('MemberRole'), request)).toBe(whenFalse);
    expect(decision(deployedStatements('MemberRole', { FixLaunchTemplates: 'false' }), request)).toBe(whenFalse);
    expect(decision(deployedStatements('MemberRole', { FixLaunchTemplates: 'true' }), request)).toBe(whenTrue);
  });

  it('keeps tagging instances whether or not launch templates may be fixed', () => {
    const tag = (resource: string) => ({ action: 'ec2:CreateTags', context: { 'aws:TagKeys': [TAG_ENFORCED_AT, TAG_REASON] }, resource });
    for (const FixLaunchTemplates of ['false', 'true']) {
      const statements = deployedStatements('MemberRole', { FixLaunchTemplates });
      expect(decision(statements, tag(INSTANCE_ARN))).toBe('allowed');
      expect(decision(statements, tag(TEMPLATE_ARN))).toBe(FixLaunchTemplates === 'true' ? 'allowed' : 'implicitly denied');
    }
    expect(readYamlTemplate('infra/member-role.yml').Parameters).toMatchObject({ FixLaunchTemplates: { Default: 'false', AllowedValues: ['false', 'true'] } });
  });

  it('gives launch-template changes only on launch templates of its own account', () => {
    const fix = deployedStatements('MemberRole', { FixLaunchTemplates: 'true' }).find((s) => [s.Action].flat().includes('ec2:CreateLaunchTemplateVersion'));

    expect([fix?.Action].flat().sort()).toEqual(['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate']);
    expect(fix?.Resource).toBe(`arn:aws:ec2:*:${ACCOUNT}:launch-template/*`);
  });

  it('trusts a named operator role only when OperatorAccountId is given, by its ARN, inside the organization', () => {
    const trust = (values: Record<string, string>) => {
      const template = resolveConditions(readYamlTemplate('infra/member-role.yml'), values);
      const document = template.Resources.MemberRole?.Properties.AssumeRolePolicyDocument as { Statement: Json[] };
      const parameters = { 'AWS::Partition': 'aws', OrganizationId: 'o-abcdefghij', CentralAccountId: '111111111111', ...values };
      return document.Statement.map((s) => substitute(s, parameters) as unknown as Statement);
    };
    // The default: the central functions alone.
    expect(trust({ OperatorAccountId: '' }).map((s) => s.Sid)).toEqual(['CentralFunctions']);

    const statements = trust({ OperatorAccountId: '222222222222', OperatorRoleName: 'platform/ImdsOperator' });
    const operator = statements.find((s) => s.Sid === 'Operator');
    expect(operator?.Principal).toEqual({ AWS: 'arn:aws:iam::222222222222:root' });
    const assume = (principalArn: string, orgId = 'o-abcdefghij') =>
      decision(operator ? [operator] : [], { action: 'sts:AssumeRole', context: { 'aws:PrincipalArn': principalArn, 'aws:PrincipalOrgID': orgId } });
    expect(assume('arn:aws:iam::222222222222:role/platform/ImdsOperator')).toBe('allowed');
    expect(assume('arn:aws:iam::222222222222:role/platform/SomeoneElse')).toBe('implicitly denied');
    expect(assume('arn:aws:iam::222222222222:role/platform/ImdsOperator', 'o-otherorgxyz')).toBe('implicitly denied');
  });

  it('is assumable only by the central sweeping roles (not sweep-plan), inside the organization', () => {
    const template = resolveConditions(readYamlTemplate('infra/member-role.yml'));
    const trust = template.Resources.MemberRole?.Properties.AssumeRolePolicyDocument as { Statement: Array<Record<string, unknown>> };

    expect(trust.Statement).toHaveLength(1);
    expect(trust.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${CentralAccountId}:root' } },
      Condition: {
        StringEquals: { 'aws:PrincipalOrgID': { Ref: 'OrganizationId' } },
        ArnEquals: {
          'aws:PrincipalArn': ['sweep-shard', 'on-instance-event'].map((fn) => ({
            'Fn::Sub': `arn:\${AWS::Partition}:iam::\${CentralAccountId}:role/\${ServiceName}-\${CentralStage}-${fn}`,
          })),
        },
      },
    });
  });
});

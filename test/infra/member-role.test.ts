import { describe, expect, it } from 'vitest';
import { CLOUDWATCH_IAM_ACTIONS } from '../../functions/adapters/cloudwatch.ts';
import { EC2_IAM_ACTIONS } from '../../functions/adapters/ec2.ts';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON } from '../../functions/domain/tags.ts';
import { actionsOf, readYamlTemplate, roleStatements } from '../support/cfn.ts';
import { SECURITYHUB_IAM_ACTIONS } from '../../functions/adapters/securityhub.ts';
import { CLOUDTRAIL_IAM_ACTIONS } from '../../functions/adapters/cloudtrail.ts';
import { EVENTBRIDGE_IAM_ACTIONS } from '../../functions/adapters/eventbridge.ts';
import { SECURITYHUB_STATE_IAM_ACTIONS } from '../../functions/adapters/securityhub-state.ts';

/** What `doctor` reads inside a member account, through the member role. */
const DOCTOR_ACTIONS = [...CLOUDTRAIL_IAM_ACTIONS, ...EVENTBRIDGE_IAM_ACTIONS, ...SECURITYHUB_STATE_IAM_ACTIONS];

/** Everything the adapters call inside a member account, through the member role. */
const MEMBER_ACCOUNT_ACTIONS = [...EC2_IAM_ACTIONS, ...CLOUDWATCH_IAM_ACTIONS, ...SECURITYHUB_IAM_ACTIONS, ...DOCTOR_ACTIONS];

const memberRole = () => {
  const template = readYamlTemplate('infra/member-role.yml');
  const role = template.Resources.MemberRole;
  if (!role) throw new Error('infra/member-role.yml has no MemberRole');
  return { role, statements: roleStatements(template).get('MemberRole') ?? [] };
};

describe('member role (infra/member-role.yml)', () => {
  it('allows exactly the actions the adapters call in member accounts, nothing more', () => {
    const { statements } = memberRole();

    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(new Set(actionsOf(statements))).toEqual(new Set(MEMBER_ACCOUNT_ACTIONS));
    expect(actionsOf(statements)).toHaveLength(MEMBER_ACCOUNT_ACTIONS.length);
  });

  it('limits CreateTags and ModifyInstanceMetadataOptions to instances, and tags to our own keys', () => {
    const { statements } = memberRole();
    const byAction = (action: string) => statements.find((s) => [s.Action].flat().includes(action));

    for (const action of ['ec2:CreateTags', 'ec2:ModifyInstanceMetadataOptions']) {
      expect(byAction(action)?.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*' });
    }
    const tagging = byAction('ec2:CreateTags');
    expect(tagging?.Condition).toEqual({
      'ForAllValues:StringLike': { 'aws:TagKeys': 'imds-remediator:*' },
      Null: { 'aws:TagKeys': 'false' },
    });
    // The keys the code writes are the keys the condition allows.
    for (const key of [TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON]) expect(key).toMatch(/^imds-remediator:/);
  });

  it('is assumable only by the central sweeping roles, inside the organization', () => {
    const { role } = memberRole();
    const trust = role.Properties.AssumeRolePolicyDocument as { Statement: Array<Record<string, unknown>> };

    expect(trust.Statement).toHaveLength(1);
    expect(trust.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${CentralAccountId}:root' } },
      Condition: {
        StringEquals: { 'aws:PrincipalOrgID': { Ref: 'OrganizationId' } },
        ArnEquals: {
          'aws:PrincipalArn': ['sweep-plan', 'sweep-shard', 'on-instance-event'].map((fn) => ({
            'Fn::Sub': `arn:\${AWS::Partition}:iam::\${CentralAccountId}:role/\${ServiceName}-\${CentralStage}-${fn}`,
          })),
        },
      },
    });
  });
});

// The service control policy that reserves the tool's tag keys (infra/scp-reserve-tags.yml), read as
// a template and evaluated against the requests a member-account user or the tool would make.
import { describe, expect, it } from 'vitest';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON, TAG_REVERTED_AT } from '../../functions/domain/tags.ts';
import { readYamlTemplate, type Json, type Statement } from '../support/cfn.ts';
import { decision, substitute, type Request } from '../support/iam.ts';

const template = readYamlTemplate('infra/scp-reserve-tags.yml');
const policy = template.Resources.ReserveToolTagKeys;
if (!policy) throw new Error('infra/scp-reserve-tags.yml has no ReserveToolTagKeys');

const CENTRAL = '111111111111';
const MEMBER = '222222222222';
/** The policy's content as Organizations receives it for a prod deployment in CENTRAL. */
const content = substitute(policy.Properties.Content ?? null, {
  'AWS::Partition': 'aws',
  CentralAccountId: CENTRAL,
  CentralStage: 'prod',
  ServiceName: 'imds-remediator',
  MemberRoleName: 'ImdsRemediatorMemberRole',
}) as unknown as { Version: string; Statement: Statement[] };

const tagRequest = (action: 'ec2:CreateTags' | 'ec2:DeleteTags', principalArn: string, tagKeys?: string[], more: Record<string, string> = {}): Request => ({
  action,
  context: { 'aws:PrincipalArn': principalArn, ...(tagKeys ? { 'aws:TagKeys': tagKeys } : {}), ...more },
});
const developer = `arn:aws:iam::${MEMBER}:role/developer`;
const memberRole = `arn:aws:iam::${MEMBER}:role/ImdsRemediatorMemberRole`;
const centralShard = `arn:aws:iam::${CENTRAL}:role/imds-remediator-prod-sweep-shard`;
/** An SCP only denies: anything it does not deny is left to the account's own IAM. */
const verdict = (request: Request) => (decision(content.Statement, request) === 'denied' ? 'denied' : 'not denied by the SCP');

describe('SCP reserving the imds-remediator:* tag keys (infra/scp-reserve-tags.yml)', () => {
  it('is a service control policy of Deny statements on the tag actions, using only the tag-key and principal condition keys', () => {
    const keys = content.Statement.flatMap((s) => Object.values(s.Condition ?? {}).flatMap((k) => Object.keys(k)));

    expect(policy.Properties).toMatchObject({ Type: 'SERVICE_CONTROL_POLICY', TargetIds: { 'Fn::If': ['HasTargets', { Ref: 'TargetIds' }, { Ref: 'AWS::NoValue' }] } });
    expect(content.Version).toBe('2012-10-17');
    expect(content.Statement.every((s) => s.Effect === 'Deny' && s.Resource !== undefined)).toBe(true);
    expect(new Set(content.Statement.flatMap((s) => [s.Action].flat()))).toEqual(new Set(['ec2:CreateTags', 'ec2:DeleteTags']));
    expect(new Set(keys)).toEqual(new Set(['aws:TagKeys', 'aws:PrincipalArn']));
    // Organizations refuses an SCP over 5,120 characters.
    expect(JSON.stringify(content).length).toBeLessThan(5120);
  });

  it('covers every tag key the tool writes', () => {
    for (const key of [TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REVERTED_AT, TAG_REASON]) {
      expect(verdict(tagRequest('ec2:CreateTags', developer, [key])), key).toBe('denied');
    }
  });

  it.each<{ who: string; request: Request; expected: string }>([
    { who: 'a user forging the enforcement record', request: tagRequest('ec2:CreateTags', developer, [TAG_ENFORCED_AT]), expected: 'denied' },
    { who: 'a user slipping a reserved key in among others', request: tagRequest('ec2:CreateTags', developer, ['Name', TAG_REASON]), expected: 'denied' },
    {
      who: 'a user launching an instance with a reserved tag (RunInstances authorizes its tags as CreateTags)',
      request: tagRequest('ec2:CreateTags', developer, [TAG_ENFORCED_AT], { 'ec2:CreateAction': 'RunInstances' }),
      expected: 'denied',
    },
    { who: 'a user removing the record', request: tagRequest('ec2:DeleteTags', developer, [TAG_ENFORCED_AT]), expected: 'denied' },
    { who: 'a user deleting every tag of an instance at once', request: tagRequest('ec2:DeleteTags', developer), expected: 'denied' },
    { who: 'a user tagging with their own keys', request: tagRequest('ec2:CreateTags', developer, ['Name', 'team']), expected: 'not denied by the SCP' },
    { who: 'a user removing their own keys', request: tagRequest('ec2:DeleteTags', developer, ['team']), expected: 'not denied by the SCP' },
    { who: 'the member role writing its record', request: tagRequest('ec2:CreateTags', memberRole, [TAG_ENFORCED_AT, TAG_REASON]), expected: 'not denied by the SCP' },
    { who: 'the central sweep-shard role tagging in the central account', request: tagRequest('ec2:CreateTags', centralShard, [TAG_ENFORCED_AT]), expected: 'not denied by the SCP' },
    {
      who: 'a role named like sweep-shard in a member account',
      request: tagRequest('ec2:CreateTags', `arn:aws:iam::${MEMBER}:role/imds-remediator-prod-sweep-shard`, [TAG_ENFORCED_AT]),
      expected: 'denied',
    },
  ])('$who: $expected', ({ request, expected }) => {
    expect(verdict(request)).toBe(expected);
  });

  it('is created unattached unless targets are given', () => {
    expect(template.Conditions?.HasTargets).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'TargetIds' }] }, ''] }] });
    expect((template.Parameters?.TargetIds as { Default: Json }).Default).toBe('');
  });
});

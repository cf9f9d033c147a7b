// The two guardrails a person attaches once an OU is ready: an SCP and the EC2 declarative policy.
// Built from the policy, written to files by `imds-remediator guardrails`, and never attached by
// the tool. The condition keys and the syntax follow AWS's documentation:
// - SCP statements (ec2:MetadataHttpTokens, ec2:MetadataHttpPutResponseHopLimit on RunInstances;
//   ec2:Attribute/HttpTokens with its Null guard on ModifyInstanceMetadataOptions): "Work with
//   instance metadata" in https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ExamplePolicies_EC2.html
//   and https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-policy-keys
// - aws:PrincipalArn: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
// - the 5,120-character SCP limit: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
// - the declarative policy (type DECLARATIVE_POLICY_EC2, ec2_attributes.instance_metadata_defaults,
//   @@assign, exception_message): https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_declarative_syntax.html
// - HttpTokensEnforced (added to the account's IMDS defaults on 2026-02-24; "set per account or
//   manage organization-wide using declarative policies"):
//   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceMetadataDefaultsResponse.html
import type { Policy } from '../domain/policy.ts';

/** Organizations refuses an SCP longer than this (characters, whitespace included). */
export const SCP_MAX_CHARS = 5_120;

const INSTANCES = 'arn:aws:ec2:*:*:instance/*';

/** The highest hop limit the policy ever wants: what the SCP allows at launch and the declarative default. */
export const hopLimitCeiling = (policy: Policy): number => Math.max(policy.hopLimit.default, ...policy.hopLimit.rules.map((r) => r.hopLimit));

/** The role ARN patterns that may still re-open IMDSv1 once the SCP is attached. */
export const breakGlassPrincipals = (policy: Policy, partition: string): string[] => {
  const roleArn = (nameOrArn: string) => (nameOrArn.startsWith('arn:') ? nameOrArn : `arn:${partition}:iam::*:role/${nameOrArn}`);
  const principals = [roleArn(policy.guardrails.breakGlassRole)];
  // Under `rollback: revert` the tool itself re-opens IMDSv1 for a workload its enforcement broke.
  if (policy.rollback === 'revert') principals.push(roleArn(policy.memberRoleName));
  return [...new Set(principals)];
};

/** The SCP as text, ready for `aws organizations create-policy --content file://…`. */
export const scpDocument = (policy: Policy, partition: string): string => {
  const instances = INSTANCES.replace('arn:aws:', `arn:${partition}:`);
  const document = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'RequireImdsV2AtLaunch',
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { StringNotEquals: { 'ec2:MetadataHttpTokens': 'required' } },
      },
      {
        // A call that leaves HttpTokens out (the tool's raise of a hop limit) is not a re-opening.
        Sid: 'DenyReopeningImdsV1',
        Effect: 'Deny',
        Action: 'ec2:ModifyInstanceMetadataOptions',
        Resource: instances,
        Condition: {
          StringNotEquals: { 'ec2:Attribute/HttpTokens': 'required' },
          Null: { 'ec2:Attribute/HttpTokens': 'false' },
          ArnNotLike: { 'aws:PrincipalArn': breakGlassPrincipals(policy, partition) },
        },
      },
      {
        Sid: 'ImdsHopLimitCeiling',
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { NumericGreaterThan: { 'ec2:MetadataHttpPutResponseHopLimit': String(hopLimitCeiling(policy)) } },
      },
    ],
  };
  return `${JSON.stringify(document, null, 2)}\n`;
};

/** The EC2 declarative policy as text (Organizations policy type DECLARATIVE_POLICY_EC2). */
export const declarativePolicyDocument = (policy: Policy): string => {
  const assign = (value: string) => ({ '@@assign': value });
  const document = {
    ec2_attributes: {
      instance_metadata_defaults: {
        http_tokens: assign('required'),
        // A default for launches that do not say: the highest the policy wants, so that a container
        // host launched without a hop limit of its own can still reach IMDS with a token.
        http_put_response_hop_limit: assign(String(hopLimitCeiling(policy))),
        http_endpoint: assign('enabled'),
        instance_metadata_tags: assign('no_preference'),
        // Enforcement, not only a default: a launch that asks for HttpTokens=optional fails, and so does
        // re-opening IMDSv1 on an instance that requires tokens.
        http_tokens_enforced: assign('enabled'),
      },
      exception_message: assign('IMDSv2 is required in this organization: launch with HttpTokens=required (see imds-remediator guardrails).'),
    },
  };
  return `${JSON.stringify(document, null, 2)}\n`;
};

// The two guardrails a person attaches once an OU is ready: an SCP and the EC2 declarative policy.
// Built from the policy, written to files by `imds-remediator guardrails`, and never attached by
// the tool. The condition keys and the syntax follow AWS's documentation:
// - SCP statements (ec2:MetadataHttpTokens, ec2:MetadataHttpPutResponseHopLimit on RunInstances;
//   ec2:Attribute/HttpTokens and ec2:Attribute/HttpPutResponseHopLimit, the requested values, each
//   with its Null guard, on ModifyInstanceMetadataOptions): "Work with
//   instance metadata" in https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ExamplePolicies_EC2.html
//   and https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-policy-keys
//   The launch statement is AWS's own "Require the use of IMDSv2" example: like it, it also denies
//   a launch that leaves MetadataOptions out (the key is then absent, and StringNotEquals matches).
// - aws:PrincipalArn: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
// - the 5,120-character SCP limit: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
// - the declarative policy (type DECLARATIVE_POLICY_EC2, ec2_attributes.instance_metadata_defaults,
//   @@assign, exception_message): https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_declarative_syntax.html
// - HttpTokensEnforced (added to the account's IMDS defaults on 2026-02-24; "set per account or
//   manage organization-wide using declarative policies"):
//   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceMetadataDefaultsResponse.html
import { hopLimitCeiling, type Policy } from '../domain/policy.ts';

export { hopLimitCeiling };

/** Organizations refuses an SCP longer than this (characters, whitespace included). */
export const SCP_MAX_CHARS = 5_120;

const INSTANCES = 'arn:aws:ec2:*:*:instance/*';

/** The role ARN patterns that may still re-open IMDSv1 once the SCP is attached; none by default. */
export const breakGlassPrincipals = (policy: Policy, partition: string): string[] => {
  const principals = policy.guardrails.breakGlassRole ? [policy.guardrails.breakGlassRole] : [];
  // Under `rollback: revert` the tool itself re-opens IMDSv1 for a workload its enforcement broke:
  // its own member role, deployed by the organization's StackSet in every member account.
  if (policy.rollback === 'revert') principals.push(`arn:${partition}:iam::*:role/${policy.memberRoleName}`);
  return [...new Set(principals)];
};

/** The SCP as text, ready for `aws organizations create-policy --content file://…`. */
export const scpDocument = (policy: Policy, partition: string): string => {
  const instances = INSTANCES.replace('arn:aws:', `arn:${partition}:`);
  const principals = breakGlassPrincipals(policy, partition);
  const ceiling = String(hopLimitCeiling(policy));
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
          ...(principals.length > 0 ? { ArnNotLike: { 'aws:PrincipalArn': principals } } : {}),
        },
      },
      {
        Sid: 'ImdsHopLimitCeiling',
        Effect: 'Deny',
        Action: 'ec2:RunInstances',
        Resource: instances,
        Condition: { NumericGreaterThan: { 'ec2:MetadataHttpPutResponseHopLimit': ceiling } },
      },
      {
        // The same ceiling on a running instance: a call that leaves the hop limit out is not a raise.
        Sid: 'ImdsHopLimitCeilingOnChange',
        Effect: 'Deny',
        Action: 'ec2:ModifyInstanceMetadataOptions',
        Resource: instances,
        Condition: {
          NumericGreaterThan: { 'ec2:Attribute/HttpPutResponseHopLimit': ceiling },
          Null: { 'ec2:Attribute/HttpPutResponseHopLimit': 'false' },
        },
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
        // A default for launches that do not say: the policy's default. A rule's higher hop limit
        // (container hosts) is asked for at launch; the SCP's ceiling bounds it.
        http_put_response_hop_limit: assign(String(policy.hopLimit.default)),
        http_endpoint: assign('enabled'),
        instance_metadata_tags: assign('no_preference'),
        // Enforcement, not only a default: a launch that asks for HttpTokens=optional fails, and so does
        // re-opening IMDSv1 on an instance that requires tokens, for everyone, break-glass role and
        // the tool included. Under `rollback: revert` it is left out, or the tool's revert of a
        // workload its enforcement broke would silently fail.
        ...(policy.rollback === 'revert' ? {} : { http_tokens_enforced: assign('enabled') }),
      },
      exception_message: assign('IMDSv2 is required in this organization: launch with HttpTokens=required (see imds-remediator guardrails).'),
    },
  };
  return `${JSON.stringify(document, null, 2)}\n`;
};

// The composition root: the only place that builds SDK clients and wires them to ports.
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { AutoScalingAdapter } from '../adapters/autoscaling.ts';
import { CloudWatchAdapter } from '../adapters/cloudwatch.ts';
import { Ec2Adapter } from '../adapters/ec2.ts';
import { Ec2LaunchTemplatesAdapter } from '../adapters/ec2-launch-templates.ts';
import { OrganizationsAdapter } from '../adapters/organizations.ts';
import { webhookFromSecret } from '../adapters/secrets.ts';
import { SecurityHubAdapter } from '../adapters/securityhub.ts';
import { SlackWebhook, type SlackWebhookOptions } from '../adapters/slack.ts';
import { S3JsonStore } from '../adapters/s3.ts';
import { S3LeaseStore } from '../adapters/s3-lease.ts';
import { readParameterText } from '../adapters/ssm.ts';
import { memberRoleCredentials } from '../adapters/sts.ts';
import type { Environment } from './config.ts';
import type { Policy } from '../domain/policy.ts';
import type { Notifier } from '../notify/port.ts';
import type { LeaseStore } from '../pipeline/ports.ts';
import type { JsonStore, World } from '../sweep/ports.ts';
// Doctor's clients, as types only: the Lambda bundles must not carry them (doctor/compose.ts builds them).
import type { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';

/** Any SDK v3 client: tests add middleware through this (call counting, fault injection). */
export type AnyClient =
  | EC2Client
  | AutoScalingClient
  | CloudWatchClient
  | OrganizationsClient
  | STSClient
  | SecurityHubClient
  | SecretsManagerClient
  | S3Client
  | CloudTrailClient
  | EventBridgeClient;

export interface ComposeOptions {
  policy: Policy;
  env: Environment;
  customizeClient?: (client: AnyClient) => void;
  slack?: SlackWebhookOptions;
  /**
   * The read-only member role that planning (DescribeRegions) assumes instead of the member role;
   * the deployed sweep-plan sets it, because the member role does not trust sweep-plan.
   */
  planRoleName?: string | undefined;
}

/** The Slack webhook, from SLACK_WEBHOOK_URL or a Secrets Manager secret; undefined when neither is set. */
export const composeNotifier = ({ env, customizeClient, slack }: Omit<ComposeOptions, 'policy'>): Notifier | undefined => {
  const source = env.slack;
  if (!source) return undefined;
  if ('url' in source) return new SlackWebhook(async () => source.url, slack);
  const client = new SecretsManagerClient({ retryMode: 'adaptive', maxAttempts: env.maxAttempts, region: source.region });
  customizeClient?.(client);
  return new SlackWebhook(webhookFromSecret(client, source.secretArn), slack);
};

// Endpoints and base credentials come from the SDK's standard environment.
export const clientSettings = (env: Environment) => ({
  retryMode: 'adaptive' as const,
  maxAttempts: env.maxAttempts,
  // A stalled call fails as a TimeoutError, which the SDK retries like any transient error.
  requestHandler: { requestTimeout: env.requestTimeoutMs, throwOnRequestTimeout: true },
});

/** The sweep's bucket in the central account, with the function's own credentials. */
export const composeJsonStore = (env: Environment, bucket: string, customizeClient?: ComposeOptions['customizeClient']): JsonStore => {
  const s3 = new S3Client({ ...clientSettings(env), region: env.homeRegion });
  customizeClient?.(s3);
  return new S3JsonStore(s3, bucket);
};

/** The account-regions' leases in the sweep bucket, with the function's own credentials. */
export const composeLeaseStore = (env: Environment, bucket: string, customizeClient?: ComposeOptions['customizeClient']): LeaseStore => {
  const s3 = new S3Client({ ...clientSettings(env), region: env.homeRegion });
  customizeClient?.(s3);
  return new S3LeaseStore(s3, bucket);
};

/**
 * Credentials in an account through the role of this name there, or the caller's own in its
 * own account. The sweep, the events and doctor all reach member accounts this one way.
 */
export const credentialsThrough = (sts: STSClient, organizations: OrganizationsAdapter, roleName: string) => {
  const ownCredentials = sts.config.credentials;
  const assume = memberRoleCredentials(sts, async (accountId) => {
    const { partition } = await organizations.caller();
    return `arn:${partition}:iam::${accountId}:role/${roleName}`;
  });
  return (accountId: string): AwsCredentialIdentityProvider => {
    const assumed = assume(accountId);
    return async () => ((await organizations.caller()).accountId === accountId ? ownCredentials() : assumed());
  };
};

export const composeWorld = ({ policy, env, customizeClient, slack, planRoleName }: ComposeOptions): World => {
  const base = clientSettings(env);
  const make = <C extends AnyClient>(client: C): C => {
    customizeClient?.(client);
    return client;
  };

  const sts = make(new STSClient({ ...base, region: env.homeRegion }));
  const organizations = new OrganizationsAdapter(make(new OrganizationsClient({ ...base, region: env.homeRegion })), sts);

  const credentialsFor = credentialsThrough(sts, organizations, policy.memberRoleName);
  const planningCredentialsFor = planRoleName === undefined ? credentialsFor : credentialsThrough(sts, organizations, planRoleName);

  return {
    organization: organizations,
    accountEc2: (accountId) =>
      new Ec2Adapter(make(new EC2Client({ ...base, region: env.homeRegion, credentials: planningCredentialsFor(accountId) }))),
    shard: ({ accountId, region }) => {
      const credentials = credentialsFor(accountId);
      const ec2 = make(new EC2Client({ ...base, region, credentials }));
      return {
        ec2: new Ec2Adapter(ec2),
        metrics: new CloudWatchAdapter(make(new CloudWatchClient({ ...base, region, credentials }))),
        // In the instance's own account and region: BatchImportFindings accepts only the caller's account.
        findings: new SecurityHubAdapter(make(new SecurityHubClient({ ...base, region, credentials }))),
        templates: {
          ec2: new Ec2LaunchTemplatesAdapter(ec2),
          autoscaling: new AutoScalingAdapter(make(new AutoScalingClient({ ...base, region, credentials }))),
        },
      };
    },
    notifier: composeNotifier({ env, customizeClient, slack }),
  };
};

/** Reads a policy stored as an SSM String parameter, in the function's own account and region. */
export const composeParameterReader = (env: Environment) => {
  const ssm = new SSMClient({ retryMode: 'adaptive', maxAttempts: env.maxAttempts, region: env.homeRegion });
  return (name: string): Promise<string> => readParameterText(ssm, name);
};

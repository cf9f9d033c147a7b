// The composition root: the only place that builds SDK clients and wires them to ports.
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { CloudWatchAdapter } from './adapters/cloudwatch.ts';
import { Ec2Adapter } from './adapters/ec2.ts';
import { OrganizationsAdapter } from './adapters/organizations.ts';
import { memberRoleCredentials } from './adapters/sts.ts';
import type { Environment } from './config.ts';
import type { Policy } from './core/policy.ts';
import type { World } from './ports.ts';

/** Any SDK v3 client: tests add middleware through this (call counting, fault injection). */
export type AnyClient = EC2Client | CloudWatchClient | OrganizationsClient | STSClient;

export interface ComposeOptions {
  policy: Policy;
  env: Environment;
  customizeClient?: (client: AnyClient) => void;
}

export const composeWorld = ({ policy, env, customizeClient }: ComposeOptions): World => {
  // Endpoints and base credentials come from the SDK's standard environment.
  const base = {
    retryMode: 'adaptive' as const,
    maxAttempts: env.maxAttempts,
    // A stalled call fails as a TimeoutError, which the SDK retries like any transient error.
    requestHandler: { requestTimeout: env.requestTimeoutMs, throwOnRequestTimeout: true },
  };
  const make = <C extends AnyClient>(client: C): C => {
    customizeClient?.(client);
    return client;
  };

  const sts = make(new STSClient({ ...base, region: env.homeRegion }));
  const organizations = new OrganizationsAdapter(make(new OrganizationsClient({ ...base, region: env.homeRegion })), sts);

  const member = memberRoleCredentials(sts, async (accountId) => {
    const { partition } = await organizations.caller();
    return `arn:${partition}:iam::${accountId}:role/${policy.memberRoleName}`;
  });
  const ownCredentials = sts.config.credentials;
  const credentialsFor = (accountId: string): AwsCredentialIdentityProvider => {
    const assumed = member(accountId);
    return async () => ((await organizations.caller()).accountId === accountId ? ownCredentials() : assumed());
  };

  return {
    organization: organizations,
    accountEc2: (accountId) =>
      new Ec2Adapter(make(new EC2Client({ ...base, region: env.homeRegion, credentials: credentialsFor(accountId) }))),
    shard: ({ accountId, region }) => {
      const credentials = credentialsFor(accountId);
      return {
        ec2: new Ec2Adapter(make(new EC2Client({ ...base, region, credentials }))),
        metrics: new CloudWatchAdapter(make(new CloudWatchClient({ ...base, region, credentials }))),
      };
    },
  };
};

// A seeded organization with one instance of every kind in each account-region.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { days, type LocalAws, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import type { PolicyInput } from '../../functions/domain/policy.ts';

export const REGIONS = ['us-east-1', 'eu-west-1'] as const;

export const testPolicy = (overrides: PolicyInput = {}): PolicyInput => ({
  mode: 'enforce',
  lookbackDays: 14,
  minObservedDays: 7,
  scope: { regions: [...REGIONS] },
  hopLimit: {
    default: 1,
    rules: [
      { tagKey: 'eks:cluster-name', hopLimit: 2 },
      { tagKey: 'kubernetes.io/cluster/*', hopLimit: 2 },
      { tagKey: 'workload', values: ['container', 'ecs', 'docker'], hopLimit: 2 },
    ],
  },
  exempt: { tags: [{ key: 'imds-exempt', values: ['true'] }] },
  ...overrides,
  // Tests run as a deployment whose member role has FixLaunchTemplates=true, unless they say otherwise.
  launchTemplates: { fix: true, ...overrides.launchTemplates },
});

export type Kind = 'plain' | 'container' | 'eks-drift' | 'v1-user' | 'no-data' | 'exempt' | 'endpoint-off' | 'compliant';

/** The verdict a plan gives each kind of seeded instance. */
export const PLANNED_VERDICT: Record<Kind, string> = {
  plain: 'enforce',
  container: 'enforce',
  'eks-drift': 'fix-hop-limit',
  'v1-user': 'blocked-v1-in-use',
  'no-data': 'insufficient-evidence',
  exempt: 'exempt',
  'endpoint-off': 'compliant',
  compliant: 'compliant',
};

export interface Seeded {
  accountId: string;
  region: string;
  kind: Kind;
  instanceId: string;
}

export const seedOrganization = async (aws: LocalAws, memberNames = ['alpha', 'beta']) => {
  const members = await aws.createOrganization(memberNames);
  const accounts = [MANAGEMENT_ACCOUNT, ...members];
  const seeded: Seeded[] = [];
  for (const accountId of accounts) {
    for (const region of REGIONS) {
      const run = async (kind: Kind, spec: Parameters<LocalAws['runInstances']>[2]) => {
        const [instanceId = ''] = await aws.runInstances(accountId, region, spec);
        seeded.push({ accountId, region, kind, instanceId });
        return instanceId;
      };
      const plain = await run('plain', { tags: { Name: 'web' } });
      const container = await run('container', { tags: { workload: 'ecs' } });
      await run('eks-drift', { httpTokens: 'required', hopLimit: 1, tags: { 'eks:cluster-name': 'prod' } });
      const v1 = await run('v1-user', { tags: { Name: 'legacy' } });
      await run('no-data', {});
      const exempt = await run('exempt', { tags: { 'imds-exempt': 'true' } });
      await run('endpoint-off', { httpEndpoint: 'disabled' });
      await run('compliant', { httpTokens: 'required', hopLimit: 1 });
      await aws.putNoTokenCalls(accountId, region, {
        [plain]: days(14),
        [container]: days(14),
        [v1]: days(14, 42),
        [exempt]: days(14),
      });
    }
  }
  return { accounts, members, seeded };
};

export const readInstance = async (aws: LocalAws, accountId: string, region: string, instanceId: string) => {
  const ec2 = await aws.ec2(accountId, region);
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = out.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`${instanceId} not found in ${accountId}/${region}`);
  return {
    httpTokens: instance.MetadataOptions?.HttpTokens,
    hopLimit: instance.MetadataOptions?.HttpPutResponseHopLimit,
    httpEndpoint: instance.MetadataOptions?.HttpEndpoint,
    tags: Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value])),
  };
};

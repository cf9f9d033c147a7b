// The naive strategy common tools use, for comparison only: per-instance calls everywhere.
// It reaches the same verdicts as production (the same pure decide()), so the work is equal.
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeInstancesCommand, DescribeRegionsCommand, EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { OrganizationsClient, paginateListAccounts } from '@aws-sdk/client-organizations';
import { STSClient } from '@aws-sdk/client-sts';
import pLimit from 'p-limit';
import type { AnyClient } from '../functions/app/compose.ts';
import { decide, needsEvidence } from '../functions/domain/decide.ts';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { NO_EVIDENCE, type Evidence } from '../functions/domain/model.ts';
import type { Verdict } from '../functions/domain/verdicts.ts';
import type { Policy } from '../functions/domain/policy.ts';
import { evidenceWindow } from '../functions/pipeline/observe.ts';
import { assumeRole, counting, evidenceOf, factsOf, importFindings, noTokenStatistics } from './peer.ts';

export interface BaselineOptions {
  homeRegion: string;
  concurrency: number;
  customizeClient: (client: AnyClient) => void;
  now: Date;
}

/** Every active account of the organization, as the naive strategy lists them on each run. */
export const listAccounts = async (org: OrganizationsClient): Promise<string[]> => {
  const accounts: string[] = [];
  for await (const page of paginateListAccounts({ client: org }, {})) {
    for (const a of page.Accounts ?? []) if (a.Id && a.Status === 'ACTIVE') accounts.push(a.Id);
  }
  return accounts;
};

export const runBaseline = async (policy: Policy, options: BaselineOptions) => {
  const base = { maxAttempts: 5 };
  const make = counting(options.customizeClient);
  const sts = make(new STSClient({ ...base, region: options.homeRegion }));
  // No per-run credential cache: every call site assumes the role again.
  const assume = (accountId: string) => assumeRole(sts, { accountId, name: policy.memberRoleName, session: 'naive' });

  const accounts = await listAccounts(make(new OrganizationsClient({ ...base, region: options.homeRegion })));

  const shards: Array<{ accountId: string; region: string }> = [];
  for (const accountId of accounts) {
    const ec2 = make(new EC2Client({ ...base, region: options.homeRegion, credentials: await assume(accountId) }));
    const out = await ec2.send(new DescribeRegionsCommand({}));
    const enabled = (out.Regions ?? []).flatMap((r) => (r.RegionName ? [r.RegionName] : []));
    for (const region of policy.scope.regions.filter((r) => enabled.includes(r))) shards.push({ accountId, region });
  }

  const byVerdict: Partial<Record<Verdict, number>> = {};
  const window = evidenceWindow(policy, options.now);
  const limit = pLimit(options.concurrency);
  await Promise.all(
    shards.map((shard) =>
      limit(async () => {
        const { accountId, region } = shard;
        // Discover ids (default page size), then look at each instance on its own.
        const lister = make(new EC2Client({ ...base, region, credentials: await assume(accountId) }));
        const ids: string[] = [];
        for await (const page of paginateDescribeInstances({ client: lister }, {})) {
          for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId) ids.push(i.InstanceId);
        }
        for (const instanceId of ids) {
          const credentials = await assume(accountId);
          const ec2 = make(new EC2Client({ ...base, region, credentials }));
          const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
          const facts = factsOf(described.Reservations?.[0]?.Instances?.[0]);
          if (!facts) continue;
          let evidence: Evidence = NO_EVIDENCE;
          if (needsEvidence(facts)) {
            const cloudwatch = make(new CloudWatchClient({ ...base, region, credentials }));
            const stats = await cloudwatch.send(new GetMetricStatisticsCommand(noTokenStatistics(instanceId, window)));
            evidence = evidenceOf(stats.Datapoints ?? []);
          }
          const decision = decide(facts, evidence, policy, { now: options.now });
          byVerdict[decision.verdict] = (byVerdict[decision.verdict] ?? 0) + 1;
          // Common tools keep findings current one at a time: one BatchImportFindings call per instance.
          const securityhub = make(new SecurityHubClient({ ...base, region, credentials }));
          await importFindings(securityhub, shard, [{ facts, evidence, decision }], policy, options.now);
        }
      }),
    ),
  );
  return { byVerdict };
};

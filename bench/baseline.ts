// The naive strategy common tools use, for comparison only: per-instance calls everywhere.
// It reaches the same verdicts as production (the same pure decide()), so the work is equal.
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeInstancesCommand, DescribeRegionsCommand, EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { OrganizationsClient, paginateListAccounts } from '@aws-sdk/client-organizations';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import pLimit from 'p-limit';
import type { AnyClient } from '../functions/app/compose.ts';
import { decide, needsEvidence } from '../functions/domain/decide.ts';
import { BatchImportFindingsCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { buildFinding } from '../functions/findings/asff.ts';
import { NO_EVIDENCE, type Decision, type Evidence, type InstanceFacts } from '../functions/domain/model.ts';
import type { Verdict } from '../functions/domain/verdicts.ts';
import type { Policy } from '../functions/domain/policy.ts';
import { evidenceWindow } from '../functions/pipeline/observe.ts';
import { instanceResult } from '../functions/pipeline/run.ts';

export interface BaselineOptions {
  homeRegion: string;
  concurrency: number;
  customizeClient: (client: AnyClient) => void;
  now: Date;
}

/** Common tools keep findings current one at a time: one BatchImportFindings call per instance. */
const importOneFinding = async (
  securityhub: SecurityHubClient,
  input: { shard: { accountId: string; region: string }; facts: InstanceFacts; decision: Decision; evidence: Evidence; policy: Policy; now: Date },
) => {
  const { shard, facts, decision, evidence, policy, now } = input;
  const result = instanceResult(shard, { facts, evidence }, decision);
  const finding = buildFinding({ partition: 'aws', shard, facts, result, lookbackDays: policy.lookbackDays, minObservedDays: policy.minObservedDays, now });
  await securityhub.send(new BatchImportFindingsCommand({ Findings: [finding] }));
};

export const runBaseline = async (policy: Policy, options: BaselineOptions) => {
  const base = { maxAttempts: 5 };
  const make = <C extends AnyClient>(client: C): C => {
    options.customizeClient(client);
    return client;
  };
  const sts = make(new STSClient({ ...base, region: options.homeRegion }));
  // No per-run credential cache: every call site assumes the role again.
  const assume = async (accountId: string): Promise<AwsCredentialIdentity> => {
    const out = await sts.send(
      new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/${policy.memberRoleName}`, RoleSessionName: 'naive' }),
    );
    const c = out.Credentials;
    return { accessKeyId: c?.AccessKeyId ?? '', secretAccessKey: c?.SecretAccessKey ?? '', sessionToken: c?.SessionToken };
  };

  const org = make(new OrganizationsClient({ ...base, region: options.homeRegion }));
  const accounts: string[] = [];
  for await (const page of paginateListAccounts({ client: org }, {})) {
    for (const a of page.Accounts ?? []) if (a.Id && a.Status === 'ACTIVE') accounts.push(a.Id);
  }

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
    shards.map(({ accountId, region }) =>
      limit(async () => {
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
          const i = described.Reservations?.[0]?.Instances?.[0];
          if (!i || i.State?.Name === 'terminated' || i.State?.Name === 'shutting-down') continue;
          const facts: InstanceFacts = {
            instanceId,
            state: i.State?.Name ?? 'unknown',
            launchTime: i.LaunchTime,
            tags: Object.fromEntries((i.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? '']] : []))),
            metadata: {
              httpTokens: i.MetadataOptions?.HttpTokens === 'required' ? 'required' : 'optional',
              httpEndpoint: i.MetadataOptions?.HttpEndpoint === 'disabled' ? 'disabled' : 'enabled',
              hopLimit: i.MetadataOptions?.HttpPutResponseHopLimit ?? 1,
              state: 'applied',
            },
            instanceProfileArn: i.IamInstanceProfile?.Arn,
          };
          let evidence: Evidence = NO_EVIDENCE;
          if (needsEvidence(facts)) {
            const cloudwatch = make(new CloudWatchClient({ ...base, region, credentials }));
            const stats = await cloudwatch.send(
              new GetMetricStatisticsCommand({
                Namespace: 'AWS/EC2',
                MetricName: 'MetadataNoToken',
                Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
                StartTime: window.start,
                EndTime: window.end,
                Period: 86_400,
                Statistics: ['Sum'],
              }),
            );
            const points = stats.Datapoints ?? [];
            evidence = { ...NO_EVIDENCE, noToken: { status: 'read', value: { calls: points.reduce((s, p) => s + (p.Sum ?? 0), 0), observedDays: points.length } } };
          }
          const decision = decide(facts, evidence, policy, { now: options.now });
          byVerdict[decision.verdict] = (byVerdict[decision.verdict] ?? 0) + 1;
          const securityhub = make(new SecurityHubClient({ ...base, region, credentials }));
          await importOneFinding(securityhub, { shard: { accountId, region }, facts, decision, evidence, policy, now: options.now });
        }
      }),
    ),
  );
  return { byVerdict };
};

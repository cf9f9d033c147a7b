// What the comparison strategies (bench/baseline.ts, bench/custodian.ts) share: they read an
// instance, its evidence and its finding the same way, so that only their call patterns differ.
import type { GetMetricStatisticsCommandInput, Datapoint } from '@aws-sdk/client-cloudwatch';
import type { Instance } from '@aws-sdk/client-ec2';
import { BatchImportFindingsCommand, type SecurityHubClient } from '@aws-sdk/client-securityhub';
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { AnyClient } from '../functions/app/compose.ts';
import { buildFinding } from '../functions/findings/asff.ts';
import { NO_EVIDENCE, type Decision, type Evidence, type InstanceFacts } from '../functions/domain/model.ts';
import type { Policy } from '../functions/domain/policy.ts';
import type { TimeWindow } from '../functions/pipeline/ports.ts';
import { instanceResult } from '../functions/pipeline/run.ts';

export interface PeerShard {
  accountId: string;
  region: string;
}

/** Adds the bench's call counter to a client (the same middleware production's clients get). */
export const counting =
  (customizeClient: (client: AnyClient) => void) =>
  <C extends AnyClient>(client: C): C => {
    customizeClient(client);
    return client;
  };

/** Credentials of the member role in this account, under the session name given. */
export const assumeRole = async (sts: STSClient, role: { accountId: string; name: string; session: string }): Promise<AwsCredentialIdentity> => {
  const out = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${role.accountId}:role/${role.name}`, RoleSessionName: role.session }));
  const c = out.Credentials;
  return { accessKeyId: c?.AccessKeyId ?? '', secretAccessKey: c?.SecretAccessKey ?? '', sessionToken: c?.SessionToken };
};

/** An instance as DescribeInstances returns it, in the facts decide() reads; undefined when it is gone. */
export const factsOf = (i: Instance | undefined): InstanceFacts | undefined => {
  if (!i?.InstanceId || i.State?.Name === 'terminated' || i.State?.Name === 'shutting-down') return undefined;
  return {
    instanceId: i.InstanceId,
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
};

/** One instance's MetadataNoToken over the window: daily sums, as production reads it with GetMetricData. */
export const noTokenStatistics = (instanceId: string, window: TimeWindow): GetMetricStatisticsCommandInput => ({
  Namespace: 'AWS/EC2',
  MetricName: 'MetadataNoToken',
  Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
  StartTime: window.start,
  EndTime: window.end,
  Period: 86_400,
  Statistics: ['Sum'],
});

/** The evidence of one GetMetricStatistics answer: the calls summed, one observed day a datapoint. */
export const evidenceOf = (points: Datapoint[]): Evidence => ({
  ...NO_EVIDENCE,
  noToken: { status: 'read', value: { calls: points.reduce((s, p) => s + (p.Sum ?? 0), 0), observedDays: points.length } },
});

export interface Decided {
  facts: InstanceFacts;
  evidence: Evidence;
  decision: Decision;
}

/** Imports the findings of these instances in one BatchImportFindings call (the same buildFinding as production). */
export const importFindings = async (securityhub: SecurityHubClient, shard: PeerShard, decided: Decided[], policy: Policy, now: Date) => {
  const findings = decided.map(({ facts, evidence, decision }) => {
    const result = instanceResult(shard, { facts, evidence }, decision);
    return buildFinding({ partition: 'aws', shard, facts, result, lookbackDays: policy.lookbackDays, minObservedDays: policy.minObservedDays, now });
  });
  await securityhub.send(new BatchImportFindingsCommand({ Findings: findings }));
};

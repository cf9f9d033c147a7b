// Cloud Custodian's strategy for this job, modelled call for call from its source (bench/README.md
// names the files), for comparison only. It reaches its verdicts with production's pure
// decide(), so the work compared is the same; only the calls and their pacing are Custodian's.
import { chunks } from '../functions/domain/time.ts';
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeTagsCommand, EC2Client, paginateDescribeInstances, type Instance } from '@aws-sdk/client-ec2';
import { OrganizationsClient } from '@aws-sdk/client-organizations';
import { SecurityHubClient } from '@aws-sdk/client-securityhub';
import { STSClient } from '@aws-sdk/client-sts';
import pLimit from 'p-limit';
import type { AnyClient } from '../functions/app/compose.ts';
import { decide, needsEvidence } from '../functions/domain/decide.ts';
import { NO_EVIDENCE, type Evidence, type InstanceFacts } from '../functions/domain/model.ts';
import type { Policy } from '../functions/domain/policy.ts';
import type { Verdict } from '../functions/domain/verdicts.ts';
import { evidenceWindow } from '../functions/pipeline/observe.ts';
import { listAccounts } from './baseline.ts';
import { custodianRetry, MANAGER_RETRY_CODES } from './botocore-retry.ts';
import { assumeRole, counting, evidenceOf, factsOf, importFindings, noTokenStatistics, type Decided, type PeerShard } from './peer.ts';

/** c7n/filters/metrics.py MetricsFilter.process: `executor_factory(max_workers=3)` over `chunks(resources, 50)`. */
export const METRICS_THREADS = 3;
export const METRICS_CHUNK = 50;
/** c7n/resources/securityhub.py PostFinding: `batch_size`, default 1, at most 100. */
export const POST_FINDING_BATCH_MAX = 100;

export interface CustodianOptions {
  homeRegion: string;
  /** Account-regions at once: c7n-org's process pool (C7N_ORG_PARALLEL, by default 4 × the CPUs). */
  concurrency: number;
  /** post-finding's batch_size. */
  batchSize: number;
  customizeClient: (client: AnyClient) => void;
  now: Date;
}

export interface CustodianResult {
  byVerdict: Partial<Record<Verdict, number>>;
  /** Account-regions whose run failed (c7n-org logs them and goes on). */
  errors: number;
  errorMessages: string[];
}

/**
 * The `ec2` resource's DescribeSource.augment: when one instance drawn at random has no Tags
 * key, EC2 may have dropped the tags of all, and Custodian reads them with one DescribeTags
 * call (not paged). An instance without tags has no Tags key, so this fires when the draw
 * falls on one (here the seeded `imds-off` instances, about 2 %).
 */
const awolTags = async (ec2: EC2Client, instances: Instance[]): Promise<Instance[]> => {
  // Custodian draws at random; the model draws the same instance every run (by the ids), so
  // that two runs of one seeded organization make the same calls.
  const draw = [...instances.map((i) => i.InstanceId ?? '').join(',')].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  const sample = instances[draw % Math.max(instances.length, 1)];
  if (!sample || sample.Tags !== undefined) return instances;
  const out = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['instance'] }] }));
  const byId = new Map<string, Array<{ Key?: string; Value?: string }>>();
  for (const t of out.Tags ?? []) if (t.ResourceId) byId.set(t.ResourceId, [...(byId.get(t.ResourceId) ?? []), { Key: t.Key, Value: t.Value }]);
  return instances.map((i) => ({ ...i, Tags: byId.get(i.InstanceId ?? '') ?? [] }));
};

export const runCustodian = async (policy: Policy, options: CustodianOptions): Promise<CustodianResult> => {
  const make = counting(options.customizeClient);
  // c7n-org reads its accounts from accounts.yml, written once beforehand by
  // tools/c7n_org/scripts/orgaccounts.py, and its regions from the command line: the run
  // itself lists nothing. The model lists the accounts with a client the bench does not count.
  const accounts = await listAccounts(new OrganizationsClient({ region: options.homeRegion }));
  const shards: PeerShard[] = accounts.flatMap((accountId) => policy.scope.regions.map((region) => ({ accountId, region })));

  // c7n/credentials.py assumed_session: AssumeRole through the caller's own session, retried on Throttling.
  const sts = make(new STSClient({ region: options.homeRegion, retryStrategy: custodianRetry({ outerCodes: ['Throttling'] }) }));
  const assume = (accountId: string) => assumeRole(sts, { accountId, name: policy.memberRoleName, session: 'CloudCustodian' });
  const wrapped = custodianRetry({ outerCodes: MANAGER_RETRY_CODES });
  const window = evidenceWindow(policy, options.now);

  /** c7n_org run_account: one account-region, its policy run in one process. */
  const runAccountRegion = async (shard: PeerShard): Promise<Decided[]> => {
    const { accountId, region } = shard;
    // local_session() caches a session per thread: the main thread assumes the role once.
    const credentials = await assume(accountId);
    const ec2 = make(new EC2Client({ region, credentials, retryStrategy: wrapped }));
    // The ec2 resource's enum_spec: describe_instances through botocore's paginator, no
    // MaxResults (none unless the policy's `query` sets one), every page retried by manager.retry.
    let described: Instance[] = [];
    for await (const page of paginateDescribeInstances({ client: ec2 }, {})) {
      for (const r of page.Reservations ?? []) described.push(...(r.Instances ?? []));
    }
    described = await awolTags(ec2, described);
    const facts = described.flatMap((i) => factsOf(i) ?? []);

    // The policy's value filters (MetadataOptions.HttpEndpoint: enabled, HttpTokens: optional)
    // leave what the metrics filter reads: one GetMetricStatistics per instance, in chunks of
    // 50 handed to 3 threads, each of which opens its own session (another AssumeRole).
    const needing = facts.filter(needsEvidence);
    const evidence = new Map<string, Evidence>();
    const queue = chunks(needing, METRICS_CHUNK);
    const thread = async () => {
      const cloudwatch = make(new CloudWatchClient({ region, credentials: await assume(accountId), retryStrategy: custodianRetry({ outerCodes: [] }) }));
      for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
        for (const f of chunk) {
          const stats = await cloudwatch.send(new GetMetricStatisticsCommand(noTokenStatistics(f.instanceId, window)));
          evidence.set(f.instanceId, evidenceOf(stats.Datapoints ?? []));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(METRICS_THREADS, queue.length) }, thread));

    const decided = facts.map((f: InstanceFacts): Decided => {
      const e = evidence.get(f.instanceId) ?? NO_EVIDENCE;
      return { facts: f, evidence: e, decision: decide(f, e, policy, { now: options.now }) };
    });
    // post-finding, after the filters, in the main thread: batch_size findings a call, one
    // call after the other, each retried by manager.retry.
    const securityhub = make(new SecurityHubClient({ region, credentials, retryStrategy: wrapped }));
    for (const batch of chunks(decided, options.batchSize)) await importFindings(securityhub, shard, batch, policy, options.now);
    return decided;
  };

  const byVerdict: Partial<Record<Verdict, number>> = {};
  const errorMessages: string[] = [];
  const limit = pLimit(options.concurrency);
  await Promise.all(
    shards.map((shard) =>
      limit(async () => {
        try {
          for (const { decision } of await runAccountRegion(shard)) byVerdict[decision.verdict] = (byVerdict[decision.verdict] ?? 0) + 1;
        } catch (error) {
          errorMessages.push(`${shard.accountId} ${shard.region}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
        }
      }),
    ),
  );
  return { byVerdict, errors: errorMessages.length, errorMessages };
};

// plan → shards (bounded concurrency) → report: the local twin of the Step Functions flow.
import pLimit from 'p-limit';
import type { Log } from '../domain/log.ts';
import type { InstanceResult } from '../domain/model.ts';
import { hopLimitCeiling, type Policy } from '../domain/policy.ts';
import { mayChange } from '../domain/verdicts.ts';
import { deliver, deliverAll } from '../notify/deliver.ts';
import { probeAlertMessage, rollbackAlertMessage, sweepSummaryMessage } from '../notify/slack-message.ts';
import { aggregate, type SweepReport } from '../report/aggregate.ts';
import { digestShard, summarizePlan } from '../report/digest.ts';
import { planSweep, type SweepPlan } from './plan.ts';
import type { World } from './ports.ts';
import { sweepShard, type ShardOptions } from './shard.ts';

/** Beyond this many, the summary's counts speak for the rest. */
const MAX_ROLLBACK_ALERTS = 20;

export interface SweepOptions {
  apply: boolean;
  log: Log;
  now?: () => Date;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Each account-region's modifies at EC2's pace (apply's onPacing), for a long wait's progress. */
  onPacing?: ShardOptions['onPacing'];
  verify?: ShardOptions['verify'];
  /** Security Hub findings (default: as the policy says); false is `--no-findings`. */
  findings?: boolean;
  clock?: ShardOptions['clock'];
  deadline?: ShardOptions['deadline'];
  modifyConcurrency?: ShardOptions['modifyConcurrency'];
}

export const runSweep = async (world: World, policy: Policy, options: SweepOptions): Promise<SweepReport> =>
  (await runSweepWithPlan(world, policy, options)).report;

/** The sweep, with the plan it ran (its organization tree among it), for the commands that read further. */
export const runSweepWithPlan = async (world: World, policy: Policy, options: SweepOptions): Promise<{ report: SweepReport; plan: SweepPlan }> => {
  const apply = mayChange(policy, options.apply);
  if (options.apply && !apply) options.log.warn('policy mode is report: apply changes nothing');
  const plan = await planSweep(world, policy, options.log, options.concurrency);
  const recordsFindings = (options.findings ?? true) && policy.findings.enabled;
  const findings = recordsFindings ? { partition: (await world.organization.caller()).partition } : undefined;
  const limit = pLimit(options.concurrency ?? 8);
  let done = 0;
  const shards = await Promise.all(
    plan.shards.map((shard) =>
      limit(async () => {
        const now = options.now?.() ?? new Date();
        const shardResult = await sweepShard(world.shard(shard), shard, policy, {
          apply,
          now,
          log: options.log,
          verify: options.verify,
          findings,
          clock: options.clock,
          deadline: options.deadline,
          modifyConcurrency: options.modifyConcurrency,
          onPacing: options.onPacing,
        });
        options.onProgress?.(++done, plan.shards.length);
        return shardResult;
      }),
    ),
  );
  const { report, overview } = aggregate({
    mode: apply ? 'apply' : 'plan',
    plan: summarizePlan(plan),
    digests: shards.map((s) => digestShard(s, { hopCeiling: hopLimitCeiling(policy) })),
    findingsEnabled: recordsFindings,
    organization: plan.organization,
  });
  const regions = plan.shards.map((s) => s.region);
  const slack = await deliver(world.notifier, sweepSummaryMessage(report, overview, { regions }), options.log, 'sweep summary');
  const instances = shards.flatMap((s) => s.instances);
  // Each workload that enforcement broke is its own alert: rare, and the one thing to act on now.
  // So is each possible SSRF probe: rejected calls that began long after the enforcement.
  const alarming = instances.filter((i) => i.verdict === 'v1-rejected' || i.verdict === 'possible-ssrf-probe').slice(0, MAX_ROLLBACK_ALERTS);
  const alertOf = (i: InstanceResult) => (i.verdict === 'possible-ssrf-probe' ? probeAlertMessage(i) : rollbackAlertMessage(i));
  const alerts = alarming.length > 0 ? await deliverAll(world.notifier, alarming.map(alertOf), options.log, 'rollback alert') : undefined;
  // Locally every result is at hand: the report keeps each instance, every error and every finding failure.
  return {
    plan,
    report: {
      ...report,
      instances,
      templates: shards.flatMap((s) => s.templates ?? []),
      launchConfigurations: shards.flatMap((s) => s.launchConfigurations ?? []),
      errors: [...plan.errors, ...shards.flatMap((s) => s.errors)],
      findings: { ...report.findings, failed: shards.flatMap((s) => s.findings?.failed ?? []) },
      notifications: alerts ? { slack, alerts } : { slack },
    },
  };
};

// One item of the Distributed Map: one account-region, end to end.
import type { Context } from 'aws-lambda';
import { digestShard, type ShardDigest } from '../report/digest.ts';
import { mayChange } from '../domain/verdicts.ts';
import { sweepShard } from '../sweep/shard.ts';
import { lambdaRuntime, leaseOptions } from '../app/lambda.ts';
import { logger } from '../app/lambda-logger.ts';
import { parseEvent, shardEventSchema } from '../app/step-payloads.ts';

/**
 * Kept back from the function's time for what follows the last modify: the re-reads that
 * confirm the changes and the findings of a large shard (≈ 1 minute at 50,000 instances).
 */
export const AFTER_CHANGES_RESERVE_MS = 150_000;

/** Lambda's view of the time left; absent (a direct call), the shard takes the time it needs. */
type RemainingTime = Pick<Context, 'getRemainingTimeInMillis'>;

export const handler = async (event: unknown, context?: RemainingTime): Promise<ShardDigest> => {
  const { shard, apply: requested } = parseEvent(shardEventSchema, event, 'sweep shard');
  const { env, world, policy, log, apply: deployedApply } = await lambdaRuntime();
  // The state says whether this run applies; the deployment and the policy can still refuse.
  const apply = mayChange(policy, requested, deployedApply);
  // Findings go to Security Hub from here, in the instance's own account and region.
  const findings = policy.findings.enabled ? { partition: (await world.organization.caller()).partition } : undefined;
  // A shard with more changes than its time allows makes those that fit and defers the rest,
  // instead of being killed at the timeout with nothing reported.
  const deadline = context ? Date.now() + context.getRemainingTimeInMillis() - AFTER_CHANGES_RESERVE_MS : undefined;
  // A shard that may change instances holds the account-region's lease; one that cannot get it in time is skipped and says so.
  const lease = leaseOptions(env, 'sweep-shard', context?.getRemainingTimeInMillis());
  const result = await sweepShard(world.shard(shard), shard, policy, { apply, now: new Date(), log, findings, deadline, lease });
  const digest = digestShard(result);
  logger.info('shard swept', {
    ...digest.shard,
    apply,
    byVerdict: digest.byVerdict,
    changed: digest.changed,
    toChange: digest.toChange,
    errors: digest.errorCount,
  });
  return digest;
};

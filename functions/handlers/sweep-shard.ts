// One item of the Distributed Map: one account-region, end to end.
import { digestShard, type ShardDigest } from '../core/shard-digest.ts';
import { sweepShard } from '../core/sweep-shard.ts';
import { lambdaRuntime } from '../lambda.ts';
import { logger } from '../lambda-logger.ts';
import { parseEvent, shardEventSchema } from '../sweep-events.ts';

export const handler = async (event: unknown): Promise<ShardDigest> => {
  const { shard, apply: requested } = parseEvent(shardEventSchema, event, 'sweep shard');
  const { world, policy, log, apply: deployedApply } = await lambdaRuntime();
  // The state says whether this run applies; the deployment and the policy can still refuse.
  const apply = requested && deployedApply;
  // Findings go to Security Hub from here, in the instance's own account and region.
  const findings = policy.findings.enabled ? { partition: (await world.organization.caller()).partition } : undefined;
  const result = await sweepShard(world.shard(shard), shard, policy, { apply, now: new Date(), log, findings });
  const digest = digestShard(result);
  logger.info('shard swept', { ...digest.shard, apply, byVerdict: digest.byVerdict, changed: digest.changed, errors: digest.errorCount });
  return digest;
};

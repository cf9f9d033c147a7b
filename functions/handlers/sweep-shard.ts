// One item of the Distributed Map: one account-region, end to end, in as many invocations as
// it takes. The child workflow invokes this function again with the cursor while it answers
// `done: false` (infra/central/sweep.yml).
import type { Context } from 'aws-lambda';
import { digestShard, type ShardDigest } from '../report/digest.ts';
import { addDigests } from '../report/aggregate.ts';
import { hopLimitCeiling } from '../domain/policy.ts';
import { mayChange } from '../domain/verdicts.ts';
import { sweepShard, type ShardCursor } from '../sweep/shard.ts';
import { INVOCATION_MARGIN_MS } from '../sweep/pieces.ts';
import { lambdaRuntime, leaseOptions } from '../app/lambda.ts';
import { logger } from '../app/lambda-logger.ts';
import { parseEvent, shardEventSchema } from '../app/step-payloads.ts';

/** The digest of everything reported so far, and whether the account-region is done. */
export type ShardStep = ShardDigest & { done: boolean; cursor?: ShardCursor };

/** Lambda's view of the time left; absent (a direct call), the shard takes the time it needs. */
type RemainingTime = Pick<Context, 'getRemainingTimeInMillis'>;

export const handler = async (event: unknown, context?: RemainingTime): Promise<ShardStep> => {
  const { shard, apply: requested, cursor, sofar } = parseEvent(shardEventSchema, event, 'sweep shard');
  const { world, policy, log, env, apply: deployedApply } = await lambdaRuntime();
  // The state says whether this run applies; the deployment and the policy can still refuse.
  const apply = mayChange(policy, requested, deployedApply);
  // Findings go to Security Hub from here, in the instance's own account and region.
  const findings = policy.findings.enabled ? { partition: (await world.organization.caller()).partition } : undefined;
  // Every phase runs against this: what does not fit waits for the next invocation, instead of
  // being killed at the timeout with nothing reported.
  const endBy = context ? Date.now() + context.getRemainingTimeInMillis() - INVOCATION_MARGIN_MS : undefined;
  const result = await sweepShard(world.shard(shard), shard, policy, {
    apply,
    now: new Date(),
    log,
    findings,
    endBy,
    cursor,
    changesMadeEarlier: sofar?.changed ?? 0,
    pieceLimits: env.pieceInstances === undefined ? undefined : { instances: env.pieceInstances },
    // A shard that may change instances holds the account-region's lease, anew in each invocation;
    // one that cannot get it in time is skipped and says so.
    lease: leaseOptions(env, 'sweep-shard', context?.getRemainingTimeInMillis()),
  });
  const part = digestShard(result, { hopCeiling: hopLimitCeiling(policy) });
  const digest = sofar ? addDigests(sofar, part) : part;
  logger.info(result.next ? 'shard continues' : 'shard swept', {
    ...digest.shard,
    apply,
    invocation: (cursor?.invocations ?? 0) + 1,
    byVerdict: digest.byVerdict,
    changed: digest.changed,
    toChange: digest.toChange,
    errors: digest.errorCount,
  });
  return result.next ? { ...digest, done: false, cursor: result.next } : { ...digest, done: true };
};

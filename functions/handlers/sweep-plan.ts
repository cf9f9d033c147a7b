// Step Functions' first step: which account-regions to sweep.
import { planSweep, type PlannedShard } from '../core/sweep-plan.ts';
import { summarizePlan, type PlanSummary } from '../core/shard-digest.ts';
import { lambdaRuntime } from '../lambda.ts';
import { logger } from '../lambda-logger.ts';
import { parseEvent, sweepStartSchema } from '../sweep-events.ts';

/**
 * The shards travel inside the state (256 KiB max) together with one digest per shard
 * (~200 B, under 500 B at worst). Past this many shards the run could fail in the Map with
 * States.DataLimitExceeded; it stops here instead, with a message that says what to do.
 */
export const MAX_SHARDS_IN_STATE = 350;

export interface SweepPlanOutput {
  apply: boolean;
  /** For the report step; the state machine passes it on untouched. */
  plan: PlanSummary;
  /** The Map's items. */
  shards: PlannedShard[];
}

export const handler = async (event: unknown): Promise<SweepPlanOutput> => {
  const start = parseEvent(sweepStartSchema, event, 'sweep start');
  const { world, policy, log, apply: deployedApply } = await lambdaRuntime();
  const apply = deployedApply && start.mode !== 'plan';
  const plan = await planSweep(world, policy, log);
  if (plan.shards.length > MAX_SHARDS_IN_STATE) {
    throw new Error(
      `${plan.shards.length} account-regions exceed the ${MAX_SHARDS_IN_STATE} one execution carries in its state; ` +
        'narrow scope.regions / scope.ous in the policy, or run one execution per OU',
    );
  }
  logger.info('sweep planned', { apply, accounts: plan.accounts, shards: plan.shards.length, errors: plan.errors.length });
  return { apply, plan: summarizePlan(plan), shards: plan.shards };
};

// Step Functions' first step: which account-regions to sweep. The shards go to the sweep
// bucket, where the Distributed Map's ItemReader reads them: the state carries only their key,
// so one execution sweeps any number of account-regions.
import { randomUUID } from 'node:crypto';
import { planSweep } from '../sweep/plan.ts';
import { summarizePlan, type PlanSummary } from '../report/digest.ts';
import { mayChange } from '../domain/verdicts.ts';
import { lambdaRuntime, sweepStore } from '../app/lambda.ts';
import { logger } from '../app/lambda-logger.ts';
import { parseEvent, sweepStartSchema } from '../app/step-payloads.ts';

/** Where the Map's items are written; the state machine's role may read only below it. */
export const SHARDS_PREFIX = 'shards/';

export interface SweepPlanOutput {
  apply: boolean;
  /** For the report step; the state machine passes it on untouched. */
  plan: PlanSummary;
  /** The S3 key (in the sweep bucket) of the JSON array of shards: the Map's items. */
  shardsKey: string;
}

export const handler = async (event: unknown): Promise<SweepPlanOutput> => {
  const start = parseEvent(sweepStartSchema, event, 'sweep start');
  const { env, world, policy, log, apply: deployedApply } = await lambdaRuntime();
  const store = sweepStore(env);
  const apply = mayChange(policy, deployedApply, start.mode !== 'plan');
  const plan = await planSweep(world, policy, log);
  const shardsKey = `${SHARDS_PREFIX}${new Date().toISOString().slice(0, 10)}/${randomUUID()}.json`;
  await store.putJson(shardsKey, plan.shards);
  // The readiness per OU needs the tree and each account's planned account-regions: beside the items, by key.
  const organizationKey = plan.organization ? shardsKey.replace(/\.json$/, '.organization.json') : undefined;
  if (organizationKey) await store.putJson(organizationKey, plan.organization);
  logger.info('sweep planned', {
    apply,
    accounts: plan.accounts,
    shards: plan.shards.length,
    errors: plan.errors.length,
    items: `s3://${store.bucket}/${shardsKey}`,
  });
  return { apply, plan: { ...summarizePlan(plan), ...(organizationKey ? { organizationKey } : {}) }, shardsKey };
};

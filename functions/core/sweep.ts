import pLimit from 'p-limit';
import type { Log, World } from '../ports.ts';
import type { SweepReport } from './model.ts';
import type { Policy } from './policy.ts';
import { planSweep } from './sweep-plan.ts';
import { buildReport } from './sweep-report.ts';
import { sweepShard, type ShardOptions } from './sweep-shard.ts';

export interface SweepOptions {
  apply: boolean;
  log: Log;
  now?: () => Date;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  verify?: ShardOptions['verify'];
  clock?: ShardOptions['clock'];
}

/** plan → shards (bounded concurrency) → report: the local twin of the Step Functions flow. */
export const runSweep = async (world: World, policy: Policy, options: SweepOptions): Promise<SweepReport> => {
  const apply = options.apply && policy.mode === 'enforce';
  if (options.apply && !apply) options.log.warn('policy mode is report: apply changes nothing');
  const plan = await planSweep(world, policy, options.log, options.concurrency);
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
          clock: options.clock,
        });
        options.onProgress?.(++done, plan.shards.length);
        return shardResult;
      }),
    ),
  );
  return buildReport(apply ? 'apply' : 'plan', plan, shards);
};

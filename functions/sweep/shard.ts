// One account-region of a sweep: every instance EC2 lists, through the one pipeline.
import { describeError } from '../domain/errors.ts';
import type { Shard } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import { takeLease, type LeaseOptions } from '../pipeline/lease.ts';
import type { ShardPorts } from '../pipeline/ports.ts';
import { runPipeline, type PipelineOptions, type ShardResult } from '../pipeline/run.ts';
import type { PlannedShard } from './plan.ts';

export type ShardOptions = Omit<PipelineOptions, 'policy' | 'context' | 'findings' | 'logAttributes' | 'readRejectedOfAll'> & {
  /** Record Security Hub findings (needs ports.findings); undefined: do not. */
  findings?: { partition: string } | undefined;
  /**
   * The account-region's lease (the deployed sweep), taken only when this run may change
   * instances, and held while it reads, decides and changes them; undefined: none (the CLI).
   */
  lease?: LeaseOptions | undefined;
};

/** The account-region's instances through the pipeline, once the lease (if any) is held. */
const sweepHeldShard = async (ports: ShardPorts, shard: PlannedShard, policy: Policy, options: Omit<ShardOptions, 'lease'>): Promise<ShardResult> => {
  const { log } = options;
  const where: Shard = { accountId: shard.accountId, region: shard.region };
  let instances;
  try {
    instances = await ports.ec2.listInstances();
  } catch (error) {
    const message = `cannot list instances: ${describeError(error)}`;
    log.error('shard failed', { ...where, reason: message });
    return { shard: where, instances: [], errors: [{ ...where, message }] };
  }
  const context = { accountExemption: shard.accountExemption, now: options.now };
  return runPipeline(ports, where, instances, {
    ...options,
    policy,
    context: () => context,
    // The listing above is complete: a finding of any instance not in it is one EC2 no longer has.
    findings: options.findings ? { ...options.findings, archiveMissing: true } : undefined,
  });
};

/** One account-region, end to end. Never throws: failures become errors in the result. */
export const sweepShard = async (ports: ShardPorts, shard: PlannedShard, policy: Policy, options: ShardOptions): Promise<ShardResult> => {
  const { lease, ...rest } = options;
  if (!lease || !options.apply) return sweepHeldShard(ports, shard, policy, rest);
  const { log } = options;
  const where: Shard = { accountId: shard.accountId, region: shard.region };
  const skipped = (message: string): ShardResult => {
    log.warn('shard skipped', { ...where, reason: message });
    return { shard: where, instances: [], errors: [{ ...where, message }] };
  };
  let attempt;
  try {
    attempt = await takeLease(where, lease, log);
  } catch (error) {
    return skipped(`not swept: cannot take the lease of this account-region: ${describeError(error)}`);
  }
  if (attempt.status === 'busy') {
    const { holder, expiresAt, waitedMs } = attempt.busy;
    return skipped(
      `not swept: another run (${holder}) holds this account-region until ${expiresAt}, and did not let go in ${Math.round(waitedMs / 1000)} s; the next sweep takes it up`,
    );
  }
  try {
    return await sweepHeldShard(ports, shard, policy, rest);
  } finally {
    await attempt.lease.release();
  }
};

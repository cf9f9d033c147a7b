import type { Log, ShardPorts } from '../ports.ts';
import { act } from './act.ts';
import { decide, needsEvidence } from './decide.ts';
import { describeError } from './errors.ts';
import type { Decision, Evidence, InstanceFacts, InstanceResult, ScopeError, Shard, ShardResult } from './model.ts';
import type { Policy } from './policy.ts';
import type { PlannedShard } from './sweep-plan.ts';
import type { Clock } from './token-bucket.ts';

const DAY_MS = 86_400_000;

export interface ShardOptions {
  apply: boolean;
  now: Date;
  log: Log;
  /** How long to wait for EC2 to show a change as applied. */
  verify?: { attempts: number; delayMs: number };
  /** Parallel ModifyInstanceMetadataOptions calls within one account-region. */
  modifyConcurrency?: number;
  /** Paces modifies to EC2's bucket (100 burst, 5/s); tests inject a virtual clock. */
  clock?: Clock;
}

/** Whole days, ending now: the window GetMetricData buckets into daily sums. */
export const evidenceWindow = (policy: Policy, now: Date) => {
  const startOfToday = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  return { start: new Date(startOfToday - (policy.lookbackDays - 1) * DAY_MS), end: now };
};

const result = (shard: Shard, facts: InstanceFacts, decision: Decision, evidence: Evidence | undefined): InstanceResult => ({
  accountId: shard.accountId,
  region: shard.region,
  instanceId: facts.instanceId,
  verdict: decision.verdict,
  reason: decision.reason,
  noTokenCalls: evidence?.noTokenCalls ?? null,
  observedDays: evidence?.observedDays ?? null,
  hopLimit: decision.hopLimit,
  changed: false,
});

/** One account-region, end to end. Never throws: failures become errors in the result. */
export const sweepShard = async (
  ports: ShardPorts,
  shard: PlannedShard,
  policy: Policy,
  options: ShardOptions,
): Promise<ShardResult> => {
  const { log } = options;
  const where: Shard = { accountId: shard.accountId, region: shard.region };
  const errors: ScopeError[] = [];

  let instances: InstanceFacts[];
  try {
    instances = await ports.ec2.listInstances();
  } catch (error) {
    const message = `cannot list instances: ${describeError(error)}`;
    log.error('shard failed', { ...where, reason: message });
    return { shard: where, instances: [], errors: [{ ...where, message }] };
  }

  const needing = instances.filter(needsEvidence);
  let evidence = new Map<string, Evidence>();
  let evidenceFailure: string | undefined;
  if (needing.length > 0) {
    try {
      evidence = await ports.metrics.countNoTokenCalls(
        needing.map((i) => i.instanceId),
        evidenceWindow(policy, options.now),
      );
    } catch (error) {
      evidenceFailure = `cannot read MetadataNoToken: ${describeError(error)}`;
      errors.push({ ...where, message: evidenceFailure });
    }
  }

  const context = { accountExemption: shard.accountExemption, now: options.now };
  const results = instances.map((facts) => {
    const seen = evidence.get(facts.instanceId);
    const decision = decide(facts, seen, policy, context);
    const forced = decision.verdict === 'enforce' && seen === undefined && needsEvidence(facts);
    if (evidenceFailure && needsEvidence(facts) && !forced && decision.verdict !== 'exempt') {
      return result(where, facts, { ...decision, verdict: 'error', reason: evidenceFailure }, seen);
    }
    return result(where, facts, decision, seen);
  });

  for (const r of results) {
    log.info('decision', { ...where, instanceId: r.instanceId, verdict: r.verdict, reason: r.reason, mode: options.apply ? 'apply' : 'plan' });
  }

  if (options.apply) {
    const targets = results.filter((r) => r.verdict === 'enforce' || r.verdict === 'fix-hop-limit');
    if (targets.length > 0) await act(ports, where, targets, options, errors);
  }
  return { shard: where, instances: results, errors };
};

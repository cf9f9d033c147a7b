import type { Log, ShardPorts } from '../ports.ts';
import { act } from '../pipeline/apply.ts';
import { decide, isWatchedForRejections, needsEvidence } from '../domain/decide.ts';
import { describeError } from '../domain/errors.ts';
import type { Decision, Evidence, InstanceFacts, InstanceResult, ScopeError, Shard, ShardResult } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import { recordFindings } from '../findings/record.ts';
import type { PlannedShard } from './plan.ts';
import type { Clock } from '../domain/token-bucket.ts';
import { DAY_MS } from '../domain/time.ts';


export interface ShardOptions {
  apply: boolean;
  now: Date;
  log: Log;
  /** How long to wait for EC2 to show a change as applied. */
  verify?: { attempts: number; delayMs: number };
  /** Parallel ModifyInstanceMetadataOptions calls within one account-region. */
  modifyConcurrency?: number;
  /** Record Security Hub findings (needs ports.findings); undefined: do not. */
  findings?: { partition: string } | undefined;
  /** Paces modifies to EC2's bucket (100 burst, 5/s); tests inject a virtual clock. */
  clock?: Clock;
  /**
   * When the last modify must have been sent (clock time): the changes that would not fit
   * before it wait for the next run. Lambda: its remaining time less a reserve.
   */
  deadline?: number | undefined;
}

/** Whole days, ending now: the window GetMetricData buckets into daily sums. */
export const evidenceWindow = (policy: Policy, now: Date) => {
  const startOfToday = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  return { start: new Date(startOfToday - (policy.lookbackDays - 1) * DAY_MS), end: now };
};

export const instanceResult = (shard: Shard, facts: InstanceFacts, decision: Decision, evidence: Evidence | undefined): InstanceResult => ({
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

  // Instances we enforced: IMDSv1 calls rejected since (the rollback watch, and no re-enforcing after a revert).
  const watched = instances.filter(isWatchedForRejections);
  let rejected = new Map<string, number>();
  if (watched.length > 0) {
    try {
      rejected = await ports.metrics.countRejectedCalls(watched.map((i) => i.instanceId), evidenceWindow(policy, options.now));
    } catch (error) {
      const message = `cannot read MetadataNoTokenRejected, rollback watch skipped: ${describeError(error)}`;
      log.error('rollback watch failed', { ...where, reason: message });
      errors.push({ ...where, message });
    }
  }

  const context = { accountExemption: shard.accountExemption, now: options.now };
  const results = instances.map((facts) => {
    const seen = evidence.get(facts.instanceId);
    const rejectedCalls = rejected.get(facts.instanceId);
    const withRejected = rejectedCalls === undefined ? seen : { noTokenCalls: 0, observedDays: 0, ...seen, rejectedCalls };
    const decision = decide(facts, withRejected, policy, context);
    const forced = decision.verdict === 'enforce' && seen === undefined && needsEvidence(facts);
    if (evidenceFailure && needsEvidence(facts) && !forced && decision.verdict !== 'exempt') {
      return instanceResult(where, facts, { ...decision, verdict: 'error', reason: evidenceFailure }, seen);
    }
    return instanceResult(where, facts, decision, seen);
  });

  for (const r of results) {
    log.info('decision', { ...where, instanceId: r.instanceId, verdict: r.verdict, reason: r.reason, mode: options.apply ? 'apply' : 'plan' });
  }

  if (options.apply) {
    const revert = policy.rollback === 'revert';
    const targets = results.filter(
      (r) => r.verdict === 'enforce' || r.verdict === 'fix-hop-limit' || (revert && r.verdict === 'v1-rejected'),
    );
    if (targets.length > 0) await act(ports, where, targets, { ...options, maxChanges: policy.maxChangesPerAccountRegion });
  }
  if (ports.findings && options.findings) {
    const observed = instances.flatMap((facts, n) => {
      const r = results[n];
      return r ? [{ facts, result: r }] : [];
    });
    // The listing above is complete: a finding of any instance not in it is one EC2 no longer has.
    const findings = await recordFindings(ports.findings, where, observed, policy, {
      partition: options.findings.partition,
      now: options.now,
      log,
      archiveMissing: true,
    });
    return { shard: where, instances: results, errors, findings };
  }
  return { shard: where, instances: results, errors };
};

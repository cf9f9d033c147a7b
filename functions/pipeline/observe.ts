// The observe step: for instances whose facts are known, read the evidence each one needs.
// It never throws for a metric: a read that fails becomes a `failed` reading of every
// instance it was for, and decide() turns that into a verdict. Unknown is never zero.
import { isWatchedForRejections, needsEvidence } from '../domain/decide.ts';
import { describeError, EvidenceReadError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import type { Evidence, InstanceFacts, MetricSums, Observation, Reading, ScopeError, Shard } from '../domain/model.ts';
import { NOT_NEEDED } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import { DAY_MS } from '../domain/time.ts';
import type { MetricsPort, TimeWindow } from './ports.ts';

/** Whole days, ending now: the window GetMetricData buckets into daily sums. */
export const evidenceWindow = (policy: Pick<Policy, 'lookbackDays'>, now: Date): TimeWindow => {
  const startOfToday = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  return { start: new Date(startOfToday - (policy.lookbackDays - 1) * DAY_MS), end: now };
};

export interface ObserveOptions {
  policy: Policy;
  now: Date;
  log: Log;
  /** Read MetadataNoTokenRejected for every instance with IMDS on, not only those this tool enforced. */
  readRejectedOfAll?: boolean | undefined;
}

export interface ObserveResult {
  observations: Observation[];
  /** One per metric read that failed, for the account-region's report. */
  errors: ScopeError[];
}

/** One metric for these instances: a reading each, `failed` for all of them when the read fails. */
const readMetric = async <T extends MetricSums>(
  read: (ids: string[]) => Promise<Map<string, T>>,
  instances: InstanceFacts[],
  none: T,
): Promise<{ readings: Map<string, Reading<T>>; failure?: string }> => {
  const readings = new Map<string, Reading<T>>();
  if (instances.length === 0) return { readings };
  const ids = instances.map((i) => i.instanceId);
  try {
    const sums = await read(ids);
    // An instance the answer does not mention has no datapoints: observed on 0 days, unknown.
    for (const id of ids) readings.set(id, { status: 'read', value: sums.get(id) ?? none });
    return { readings };
  } catch (error) {
    const reason = describeError(error);
    // What the adapter did read before the rest failed is kept: only the unread are unknown.
    const read = error instanceof EvidenceReadError ? (error.read as ReadonlyMap<string, T>) : new Map<string, T>();
    for (const id of ids) {
      const sums = read.get(id);
      readings.set(id, sums ? { status: 'read', value: sums } : { status: 'failed', reason });
    }
    return { readings, failure: reason };
  }
};

/** Reads MetadataNoToken where IMDSv1 is allowed and MetadataNoTokenRejected where this tool enforced. */
export const observe = async (
  metrics: MetricsPort,
  shard: Shard,
  instances: InstanceFacts[],
  options: ObserveOptions,
): Promise<ObserveResult> => {
  const { log } = options;
  const window = evidenceWindow(options.policy, options.now);
  const errors: ScopeError[] = [];

  // Every instance that allows IMDSv1, a launch included: a launch's own calls block it too.
  const own = instances.filter(needsEvidence);
  const noToken = await readMetric((ids) => metrics.countNoTokenCalls(ids, window), own, { calls: 0, observedDays: 0 });
  if (noToken.failure) {
    const message = `cannot read MetadataNoToken: ${noToken.failure}`;
    log.error('evidence not read', { ...shard, instances: own.length, reason: message });
    errors.push({ ...shard, message });
  }

  const watched = options.readRejectedOfAll ? instances.filter((f) => f.metadata.httpEndpoint === 'enabled') : instances.filter(isWatchedForRejections);
  const rejected = await readMetric((ids) => metrics.countRejectedCalls(ids, window), watched, { calls: 0, observedDays: 0, firstDay: undefined });
  if (rejected.failure) {
    const message = `cannot read MetadataNoTokenRejected, rollback watch skipped: ${rejected.failure}`;
    log.error('rollback watch failed', { ...shard, instances: watched.length, reason: message });
    errors.push({ ...shard, message });
  }

  const observations = instances.map((facts): Observation => {
    const evidence: Evidence = {
      noToken: noToken.readings.get(facts.instanceId) ?? NOT_NEEDED,
      rejected: rejected.readings.get(facts.instanceId) ?? NOT_NEEDED,
    };
    return { facts, evidence };
  });
  return { observations, errors };
};

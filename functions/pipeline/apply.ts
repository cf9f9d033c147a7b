import pLimit from 'p-limit';
import type { Log, ShardPorts } from '../ports.ts';
import { describeError } from '../domain/errors.ts';
import type { InstanceResult, Shard } from '../domain/model.ts';
import type { ShardOptions } from '../sweep/shard.ts';
import { MODIFY_METADATA_BUCKET, systemClock, TokenBucket } from '../domain/token-bucket.ts';
import { sleep } from '../domain/time.ts';

import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON, TAG_REVERTED_AT } from '../domain/tags.ts';

export { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON, TAG_REVERTED_AT };
const TAG_VALUE_MAX = 256;


const errorCode = (error: unknown) => (error instanceof Error ? `${error.name} ${(error as { Code?: string }).Code ?? ''}` : '');
// Terminated between discovery and the change: accounted for as `gone`, not as a failure.
const isGone = (error: unknown) => /InvalidInstanceID\.NotFound/.test(errorCode(error));
/** A just-launched instance may refuse the change while it is still pending. */
const isNotReady = (error: unknown) => /IncorrectInstanceState/.test(errorCode(error));
/** The account-level IMDS default (HttpTokensEnforced) refuses to re-open v1. */
const isUnsupported = (error: unknown) => /UnsupportedOperation/.test(errorCode(error));

/** The rollback watch's revert is the one change that re-opens IMDSv1. */
const isRevert = (target: InstanceResult) => target.verdict === 'v1-rejected';
const wantedTokens = (target: InstanceResult) => (isRevert(target) ? 'optional' : 'required');

const changePatiently = async (ports: ShardPorts, target: InstanceResult, attempts: number, delayMs: number) => {
  for (let attempt = 1; ; attempt++) {
    try {
      if (isRevert(target)) return await ports.ec2.allowTokens(target.instanceId, target.hopLimit);
      return await ports.ec2.requireTokens(target.instanceId, target.hopLimit);
    } catch (error) {
      if (!isNotReady(error) || attempt >= attempts) throw error;
      await sleep(delayMs * attempt);
    }
  }
};

const markGone = (target: InstanceResult, log: Log, shard: Shard) => {
  target.reason = `terminated before it could be changed (${target.verdict} was due; EC2 says InvalidInstanceID.NotFound)`;
  target.verdict = 'gone';
  log.info('instance gone', { ...shard, instanceId: target.instanceId, verdict: target.verdict, reason: target.reason });
};

const stampFor = (target: InstanceResult, at: string) => ({
  [target.verdict === 'enforce' ? TAG_ENFORCED_AT : isRevert(target) ? TAG_REVERTED_AT : TAG_HOP_LIMIT_SET_AT]: at,
  [TAG_REASON]: target.reason.slice(0, TAG_VALUE_MAX),
});

/**
 * Tags each target with when and why, in batches, before it is changed. The tags are the
 * only record that we changed an instance: written after the change, a lost answer or a
 * throttled CreateTags would leave it changed and untagged for good (the next run sees it
 * compliant). Written first, a change that then fails leaves tags that state an intent,
 * and the next run redoes the change and rewrites them. Returns the targets that carry
 * their tags; a target that cannot be tagged is not changed.
 */
const stamp = async (ports: ShardPorts, shard: Shard, targets: InstanceResult[], at: string, log: Log) => {
  const groups = new Map<string, InstanceResult[]>();
  for (const t of targets) {
    const key = `${t.verdict}\u0000${t.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const stamped: InstanceResult[] = [];
  const refuse = (group: InstanceResult[], error: unknown) => {
    const why = describeError(error);
    log.error('tagging failed, not changed', { ...shard, instanceIds: group.map((t) => t.instanceId), reason: why });
    for (const t of group) {
      t.reason = `${t.verdict} not attempted: could not tag it first: ${why}`;
      t.verdict = 'error';
    }
  };
  for (const group of groups.values()) {
    const first = group[0];
    if (!first) continue;
    try {
      await ports.ec2.tagInstances(group.map((t) => t.instanceId), stampFor(first, at));
      stamped.push(...group);
    } catch (error) {
      if (!isGone(error)) {
        refuse(group, error);
        continue;
      }
      // One terminated instance fails the whole batch: find it, tag the others.
      for (const t of group) {
        try {
          await ports.ec2.tagInstances([t.instanceId], stampFor(t, at));
          stamped.push(t);
        } catch (single) {
          if (isGone(single)) markGone(t, log, shard);
          else refuse([t], single);
        }
      }
    }
  }
  return stamped;
};

/**
 * How many changes one run makes in one account-region: the policy's cap, and what EC2's
 * modify bucket (100 at once, then 5 a second) lets through in the time left, if any.
 */
export const changeBudget = (cap: number | undefined, secondsLeft: number | undefined): number => {
  const { capacity, refillPerSecond } = MODIFY_METADATA_BUCKET;
  const byTime = secondsLeft === undefined ? Infinity : secondsLeft <= 0 ? 0 : capacity + Math.floor(refillPerSecond * secondsLeft);
  return Math.min(cap ?? Infinity, byTime);
};

/** A failing workload's revert first, then enforcement, then hop limits; by instance id within each. */
const URGENCY: Record<string, number> = { 'v1-rejected': 0, enforce: 1, 'fix-hop-limit': 2 };
const byUrgency = (a: InstanceResult, b: InstanceResult) =>
  (URGENCY[a.verdict] ?? 3) - (URGENCY[b.verdict] ?? 3) || a.instanceId.localeCompare(b.instanceId);

/** Left as it is this run, said why; the verdict stands, so the next run takes it up. */
const defer = (target: InstanceResult, why: string, log: Log, shard: Shard) => {
  target.reason = `${target.reason}; deferred to the next run: ${why}`;
  log.info('change deferred', { ...shard, instanceId: target.instanceId, verdict: target.verdict, reason: why });
};

/** Tag, modify, then re-read (batched) until EC2 shows the options applied. */
export const act = async (
  ports: ShardPorts,
  shard: Shard,
  targets: InstanceResult[],
  options: ShardOptions & { maxChanges?: number | undefined },
): Promise<void> => {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  // What does not fit this run is chosen before anything is tagged: a deferred instance
  // carries no tag claiming a change.
  const secondsLeft = options.deadline === undefined ? undefined : (options.deadline - clock.now()) / 1000;
  const budget = changeBudget(options.maxChanges, secondsLeft);
  const ordered = [...targets].sort(byUrgency);
  const why =
    budget === options.maxChanges
      ? `the policy allows ${budget} changes per account-region per run (maxChangesPerAccountRegion)`
      : `this run's time left allows about ${budget} changes here at EC2's pace of 100, then 5 a second`;
  for (const target of ordered.slice(budget)) defer(target, why, log, shard);

  const stamped = await stamp(ports, shard, ordered.slice(0, budget), options.now.toISOString(), log);
  const limit = pLimit(options.modifyConcurrency ?? 5);
  const { attempts, delayMs } = options.verify ?? { attempts: 10, delayMs: 1000 };
  // One shard is one account-region: its modifies share EC2's bucket for that account-region.
  const bucket = new TokenBucket(MODIFY_METADATA_BUCKET.capacity, MODIFY_METADATA_BUCKET.refillPerSecond, clock);
  const sent: InstanceResult[] = [];
  await Promise.all(
    stamped.map((target) =>
      limit(async () => {
        try {
          await bucket.take();
          // The estimate assumed a full bucket; others may share it. Past the deadline, stop.
          if (options.deadline !== undefined && clock.now() >= options.deadline) {
            return defer(target, 'this run ran out of time before its turn (tagged with the intent, not changed)', log, shard);
          }
          await changePatiently(ports, target, attempts, delayMs);
          sent.push(target);
        } catch (error) {
          if (isGone(error)) return markGone(target, log, shard);
          if (isRevert(target) && isUnsupported(error)) {
            log.error('revert impossible', { ...shard, instanceId: target.instanceId, reason: describeError(error) });
            target.reason = `${target.reason}; the revert is impossible: this account enforces IMDSv2 for every instance (HttpTokensEnforced), so fix the workload or lift the account setting (${describeError(error)})`;
            return;
          }
          const why = describeError(error);
          log.error('change failed', { ...shard, instanceId: target.instanceId, verdict: target.verdict, reason: why });
          target.reason = `${target.verdict} failed: ${why}`;
          target.verdict = 'error';
        }
      }),
    ),
  );

  let pending = sent;
  let readFailure: string | undefined;
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(delayMs * Math.min(attempt - 1, 5));
    let current;
    try {
      current = await ports.ec2.readMetadataOptions(pending.map((t) => t.instanceId));
      readFailure = undefined;
    } catch (error) {
      readFailure = describeError(error);
      log.warn('re-read failed, will retry', { ...shard, attempt, reason: readFailure });
      continue;
    }
    pending = pending.filter((target) => {
      const options = current.get(target.instanceId);
      if (!options) {
        target.reason = `terminated after the change was sent, before EC2 showed it applied (${target.verdict})`;
        target.verdict = 'gone';
        log.info('instance gone', { ...shard, instanceId: target.instanceId, verdict: target.verdict, reason: target.reason });
        return false;
      }
      const applied = options.state === 'applied' && options.httpTokens === wantedTokens(target) && options.hopLimit === target.hopLimit;
      if (applied) target.changed = true;
      return !applied;
    });
  }
  for (const target of pending) {
    target.reason = readFailure
      ? `${target.verdict} sent, but it could not be re-read to confirm it (${attempts} tries): ${readFailure}`
      : `${target.verdict} sent, but EC2 did not show it applied after ${attempts} reads`;
    target.verdict = 'error';
  }

  const changed = targets.filter((t) => t.changed);
  for (const t of changed) {
    log.info('instance changed', {
      ...shard,
      instanceId: t.instanceId,
      verdict: t.verdict,
      hopLimit: t.hopLimit,
      reason: t.reason,
    });
  }
};

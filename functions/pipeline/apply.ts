// The apply step: tag, modify, then re-read until EC2 shows the change applied. It returns
// an outcome per instance and leaves its inputs as they were; settle() turns a decision and
// its outcome into the instance's result.
import pLimit from 'p-limit';
import { describeError, InstanceGoneError, InstanceNotReadyError, UnsupportedChangeError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import type { InstanceResult, Shard } from '../domain/model.ts';
import { TAG_REASON } from '../domain/tags.ts';
import { sleep } from '../domain/time.ts';
import { MODIFY_METADATA_BUCKET, systemClock, TokenBucket, type Clock } from '../domain/token-bucket.ts';
import { isRevert, VERDICT_TABLE, type Verdict } from '../domain/verdicts.ts';
import type { Ec2Port } from './ports.ts';

const TAG_VALUE_MAX = 256;

/** One change to make: the decision, as the decide step wrote it. */
export interface Target {
  instanceId: string;
  verdict: Verdict;
  reason: string;
  hopLimit: number;
  /** Stopped (or stopping): EC2 applies new options at its next start, so an accepted change is done. */
  stopped?: boolean;
}

export type ApplyOutcome =
  /** EC2 shows the new options (or, for a stopped instance, accepted them: the note says so). */
  | { status: 'changed'; note?: string }
  /** The organization's EC2 declarative policy governs these options: they cannot be changed here. */
  | { status: 'managed'; reason: string }
  /** Left as it is on purpose this run (deferred, or a revert EC2 cannot make); the verdict stands. */
  | { status: 'kept'; note: string }
  /** The instance was terminated before or while it was changed. */
  | { status: 'gone'; reason: string }
  /** The change failed, or could not be confirmed. */
  | { status: 'failed'; reason: string };

/** How far one account-region's modifies have come at EC2's pace, for a person watching a long wait. */
export interface PacingProgress {
  shard: Shard;
  /** Modifies that have had their turn (a token from the bucket), of `total` this run sends here. */
  sent: number;
  total: number;
  /** The wait left at EC2's refill for the tokens of the rest: 0 once every modify has its turn. */
  msLeft: number;
}

export interface ApplyOptions {
  now: Date;
  log: Log;
  /** How long to wait for EC2 to show a change as applied. */
  verify?: { attempts: number; delayMs: number } | undefined;
  /** Parallel ModifyInstanceMetadataOptions calls within one account-region. */
  modifyConcurrency?: number | undefined;
  /** Paces modifies to EC2's bucket (100 burst, 5/s); tests inject a virtual clock. */
  clock?: Clock | undefined;
  /** When the last modify must have been sent (clock time): what does not fit waits for the next run. */
  deadline?: number | undefined;
  /** The policy's cap on changes per account-region per run (maxChangesPerAccountRegion). */
  maxChanges?: number | undefined;
  /** Who takes up what this run defers: "the next run" by default; an event leaves it to the scheduled sweep. */
  deferredTo?: string | undefined;
  /**
   * Changes this run already made in this account-region (earlier pieces of a shard swept in
   * pieces): they count against maxChanges.
   */
  changesMadeEarlier?: number | undefined;
  /**
   * The account-region's modify bucket, shared by the pieces of one invocation; without it,
   * this call paces itself from a full bucket.
   */
  bucket?: TokenBucket | undefined;
  /** Told when the modifies start and after each one's turn: the last turn has msLeft 0. */
  onPacing?: ((progress: PacingProgress) => void) | undefined;
}

/** The result after the apply step: the decision's result with what happened to it. */
export const settle = (result: InstanceResult, outcome: ApplyOutcome | undefined): InstanceResult => {
  if (!outcome) return result;
  switch (outcome.status) {
    case 'changed':
      return { ...result, changed: true, reason: outcome.note ? `${result.reason}; ${outcome.note}` : result.reason };
    case 'managed':
      return { ...result, verdict: 'exempt', reason: outcome.reason };
    case 'kept':
      return { ...result, reason: `${result.reason}; ${outcome.note}` };
    case 'gone':
      return { ...result, verdict: 'gone', reason: outcome.reason };
    case 'failed':
      return { ...result, verdict: 'error', reason: outcome.reason };
  }
};

/** A target with the tag its verdict stamps. */
interface Stamped extends Target {
  stamp: string;
}

/** A target with the change its verdict makes: the HttpTokens to set, the tag to stamp first. */
interface Planned extends Stamped {
  httpTokens: 'required' | 'optional' | 'keep';
}

/** The change the verdict table names for this target; undefined for a verdict that changes nothing. */
const planned = (target: Target): Planned | undefined => {
  const { change } = VERDICT_TABLE[target.verdict];
  return change.kind === 'modify' ? { ...target, httpTokens: change.httpTokens, stamp: change.stamp } : undefined;
};

/** The verdict's own tag (when), and why. */
const stampFor = (target: Stamped, at: string): Record<string, string> => ({
  [target.stamp]: at,
  [TAG_REASON]: target.reason.slice(0, TAG_VALUE_MAX),
});

/** A just-launched instance may refuse the change while it is still pending: try again a few times. */
const changePatiently = async (ec2: Ec2Port, target: Planned, attempts: number, delayMs: number): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    try {
      if (target.httpTokens === 'keep') return await ec2.setHopLimit(target.instanceId, target.hopLimit);
      return await ec2.setMetadataOptions(target.instanceId, target.httpTokens, target.hopLimit);
    } catch (error) {
      if (!(error instanceof InstanceNotReadyError) || attempt >= attempts) throw error;
      await sleep(delayMs * attempt);
    }
  }
};

/**
 * How many changes one run makes in one account-region: the policy's cap, and what EC2's
 * modify bucket (100 at once, then 5 a second) lets through in the time left, if any. The
 * bucket holds `tokensNow` at the start: full in a fresh run, less after earlier pieces.
 */
export const changeBudget = (
  cap: number | undefined,
  secondsLeft: number | undefined,
  tokensNow: number = MODIFY_METADATA_BUCKET.capacity,
): number => {
  const { refillPerSecond } = MODIFY_METADATA_BUCKET;
  const byTime = secondsLeft === undefined ? Infinity : secondsLeft <= 0 ? 0 : Math.floor(tokensNow) + Math.floor(refillPerSecond * secondsLeft);
  return Math.max(0, Math.min(cap ?? Infinity, byTime));
};

/** A failing workload's revert first, then enforcement, then hop limits; by instance id within each. */
const byUrgency = (a: Target, b: Target) =>
  VERDICT_TABLE[a.verdict].urgency - VERDICT_TABLE[b.verdict].urgency || a.instanceId.localeCompare(b.instanceId);

/** Records each target's outcome, and logs it as it is settled. */
class Outcomes {
  readonly byId = new Map<string, ApplyOutcome>();
  /** Targets whose modify EC2 refused outright (not gone, not pending): perhaps a declarative policy. */
  readonly refused = new Set<string>();
  constructor(
    private readonly log: Log,
    private readonly shard: Shard,
  ) {}

  deferred(target: Target, why: string, to: string) {
    this.byId.set(target.instanceId, { status: 'kept', note: `deferred to ${to}: ${why}` });
    this.log.info('change deferred', { ...this.shard, instanceId: target.instanceId, verdict: target.verdict, reason: why });
  }

  gone(target: Target, reason: string) {
    this.byId.set(target.instanceId, { status: 'gone', reason });
    this.log.info('instance gone', { ...this.shard, instanceId: target.instanceId, verdict: 'gone', reason });
  }

  failed(target: Target, reason: string, message: string) {
    this.byId.set(target.instanceId, { status: 'failed', reason });
    this.log.error(message, { ...this.shard, instanceId: target.instanceId, verdict: target.verdict, reason });
  }
}

/**
 * Tags each target with when and why, in batches, before it is changed. The tags are the
 * only record that we changed an instance: written after the change, a lost answer or a
 * throttled CreateTags would leave it changed and untagged for good (the next run sees it
 * compliant). Written first, a change that then fails leaves tags that state an intent,
 * and the next run redoes the change and rewrites them. Returns the targets that carry
 * their tags; a target that cannot be tagged is not changed.
 */
const stamp = async <T extends Stamped>(ec2: Ec2Port, targets: T[], at: string, outcomes: Outcomes): Promise<T[]> => {
  const groups = new Map<string, T[]>();
  for (const t of targets) {
    const key = `${t.verdict}\u0000${t.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const refuse = (target: Target, error: unknown) =>
    outcomes.failed(target, `${target.verdict} not attempted: could not tag it first: ${describeError(error)}`, 'tagging failed, not changed');
  const stamped: T[] = [];
  for (const group of groups.values()) {
    const first = group[0];
    if (!first) continue;
    try {
      await ec2.tagInstances(group.map((t) => t.instanceId), stampFor(first, at));
      stamped.push(...group);
    } catch (error) {
      if (!(error instanceof InstanceGoneError)) {
        for (const t of group) refuse(t, error);
        continue;
      }
      // One terminated instance fails the whole batch: find it, tag the others.
      for (const t of group) {
        try {
          await ec2.tagInstances([t.instanceId], stampFor(t, at));
          stamped.push(t);
        } catch (single) {
          if (single instanceof InstanceGoneError) outcomes.gone(t, `terminated before it could be changed (${t.verdict} was due; EC2 says it no longer exists)`);
          else refuse(t, single);
        }
      }
    }
  }
  return stamped;
};

/** Re-reads (batched) until EC2 shows each change applied; what never shows is a failure. */
const confirm = async (ec2: Ec2Port, sent: Planned[], attempts: number, delayMs: number, outcomes: Outcomes, log: Log, shard: Shard) => {
  let pending = sent;
  let readFailure: string | undefined;
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(delayMs * Math.min(attempt - 1, 5));
    let current;
    try {
      current = await ec2.readMetadataOptions(pending.map((t) => t.instanceId));
      readFailure = undefined;
    } catch (error) {
      readFailure = describeError(error);
      log.warn('re-read failed, will retry', { ...shard, attempt, reason: readFailure });
      continue;
    }
    pending = pending.filter((target) => {
      const options = current.get(target.instanceId);
      if (!options) {
        outcomes.gone(target, `terminated after the change was sent, before EC2 showed it applied (${target.verdict})`);
        return false;
      }
      const tokensAsWanted = target.httpTokens === 'keep' || options.httpTokens === target.httpTokens;
      const applied = options.state === 'applied' && tokensAsWanted && options.hopLimit === target.hopLimit;
      if (applied) outcomes.byId.set(target.instanceId, { status: 'changed' });
      return !applied;
    });
  }
  for (const target of pending) {
    const reason = readFailure
      ? `${target.verdict} sent, but it could not be re-read to confirm it (${attempts} tries): ${readFailure}`
      : `${target.verdict} sent, but EC2 did not show it applied after ${attempts} reads`;
    outcomes.failed(target, reason, 'change not confirmed');
  }
};

/**
 * Changes that failed outright may have been refused by the organization's EC2 declarative
 * policy, which governs IMDS settings and cannot be overridden from inside the account. One
 * call tells; then those instances are reported as managed by it, not as errors every day.
 */
const explainRefusals = async (ec2: Ec2Port, targets: Target[], outcomes: Outcomes, log: Log, shard: Shard) => {
  const refused = targets.filter((t) => outcomes.refused.has(t.instanceId));
  if (refused.length === 0) return;
  let manager;
  try {
    manager = await ec2.metadataDefaultsManager();
  } catch (error) {
    log.debug('cannot read who governs the IMDS settings', { ...shard, reason: describeError(error) });
    return;
  }
  if (manager.managedBy !== 'declarative-policy') return;
  const why = `managed by the organization's EC2 declarative policy, which this account cannot override${manager.message ? ` (${manager.message})` : ''}`;
  log.info('instances managed by a declarative policy', { ...shard, instances: refused.length, reason: why });
  for (const t of refused) outcomes.byId.set(t.instanceId, { status: 'managed', reason: why });
};

/** Tag, modify, then re-read: the outcome of each target, by instance id. */
export const apply = async (ec2: Ec2Port, shard: Shard, targets: Target[], options: ApplyOptions): Promise<Map<string, ApplyOutcome>> => {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  const outcomes = new Outcomes(log, shard);
  // What does not fit this run is chosen before anything is tagged: a deferred instance
  // carries no tag claiming a change.
  const secondsLeft = options.deadline === undefined ? undefined : (options.deadline - clock.now()) / 1000;
  // One shard is one account-region: its modifies share EC2's bucket for that account-region.
  const bucket = options.bucket ?? new TokenBucket(MODIFY_METADATA_BUCKET.capacity, MODIFY_METADATA_BUCKET.refillPerSecond, clock);
  const capLeft = options.maxChanges === undefined ? undefined : Math.max(0, options.maxChanges - (options.changesMadeEarlier ?? 0));
  const budget = changeBudget(capLeft, secondsLeft, bucket.available());
  const ordered = targets.flatMap((t) => planned(t) ?? []).sort(byUrgency);
  const why =
    budget === capLeft
      ? `the policy allows ${options.maxChanges} changes per account-region per run (maxChangesPerAccountRegion)`
      : `this run's time left allows about ${budget} changes here at EC2's pace of 100, then 5 a second`;
  const deferredTo = options.deferredTo ?? 'the next run';
  for (const target of ordered.slice(budget)) outcomes.deferred(target, why, deferredTo);

  // A record is its tags alone: no modify, so it takes nothing from the change budget.
  const records = targets.flatMap((t): Stamped[] => {
    const { change } = VERDICT_TABLE[t.verdict];
    return change.kind === 'record' ? [{ ...t, stamp: change.stamp }] : [];
  });
  for (const r of await stamp(ec2, records, options.now.toISOString(), outcomes)) {
    outcomes.byId.set(r.instanceId, { status: 'kept', note: `recorded with the tag ${r.stamp}` });
  }

  const stamped = await stamp(ec2, ordered.slice(0, budget), options.now.toISOString(), outcomes);
  const limit = pLimit(options.modifyConcurrency ?? 5);
  const { attempts, delayMs } = options.verify ?? { attempts: 10, delayMs: 1000 };
  const sent: Planned[] = [];
  let turns = 0;
  const pacing = (done: number) =>
    options.onPacing?.({ shard, sent: done, total: stamped.length, msLeft: done >= stamped.length ? 0 : bucket.msFor(stamped.length - done) });
  if (stamped.length > 0) pacing(0);
  await Promise.all(
    stamped.map((target) =>
      limit(async () => {
        try {
          await bucket.take();
          pacing(++turns);
          // The estimate assumed a full bucket; others may share it. Past the deadline, stop.
          if (options.deadline !== undefined && clock.now() >= options.deadline) {
            return outcomes.deferred(target, 'this run ran out of time before its turn (tagged with the intent, not changed)', deferredTo);
          }
          await changePatiently(ec2, target, attempts, delayMs);
          sent.push(target);
        } catch (error) {
          if (error instanceof InstanceGoneError) {
            return outcomes.gone(target, `terminated before it could be changed (${target.verdict} was due; EC2 says it no longer exists)`);
          }
          if (isRevert(target.verdict) && error instanceof UnsupportedChangeError) {
            const note = `the revert is impossible: this account enforces IMDSv2 for every instance (HttpTokensEnforced), so fix the workload or lift the account setting (${describeError(error)})`;
            log.error('revert impossible', { ...shard, instanceId: target.instanceId, reason: describeError(error) });
            outcomes.byId.set(target.instanceId, { status: 'kept', note });
            return;
          }
          outcomes.refused.add(target.instanceId);
          outcomes.failed(target, `${target.verdict} failed: ${describeError(error)}`, 'change failed');
        }
      }),
    ),
  );

  // A stopped instance takes its new options when it next starts: EC2's acceptance is the change.
  for (const target of sent.filter((t) => t.stopped)) {
    outcomes.byId.set(target.instanceId, {
      status: 'changed',
      note: 'stopped: EC2 applies the change when it next starts; its IMDSv1 use at boot shows in MetadataNoToken only if it booted inside the look-back window',
    });
  }
  await confirm(ec2, sent.filter((t) => !t.stopped), attempts, delayMs, outcomes, log, shard);
  await explainRefusals(ec2, targets, outcomes, log, shard);
  for (const target of targets) {
    if (outcomes.byId.get(target.instanceId)?.status !== 'changed') continue;
    log.info('instance changed', { ...shard, instanceId: target.instanceId, verdict: target.verdict, hopLimit: target.hopLimit, reason: target.reason });
  }
  return outcomes.byId;
};

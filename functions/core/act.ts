import pLimit from 'p-limit';
import type { ShardPorts } from '../ports.ts';
import { describeError } from './errors.ts';
import type { InstanceResult, ScopeError, Shard } from './model.ts';
import type { ShardOptions } from './sweep-shard.ts';

import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON, TAG_REVERTED_AT } from './tags.ts';

export { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON, TAG_REVERTED_AT };
const TAG_VALUE_MAX = 256;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const errorCode = (error: unknown) => (error instanceof Error ? `${error.name} ${(error as { Code?: string }).Code ?? ''}` : '');
const isNotFound = (error: unknown) => /InvalidInstanceID\.NotFound/.test(errorCode(error));
/** A just-launched instance may refuse the change while it is still pending. */
const isNotReady = (error: unknown) => /IncorrectInstanceState/.test(errorCode(error));

/** The rollback watch's revert is the one change that re-opens IMDSv1. */
const isRevert = (target: InstanceResult) => target.verdict === 'v1-rejected';
const wantedTokens = (target: InstanceResult) => (isRevert(target) ? 'optional' : 'required');
/** The account-level IMDS default (HttpTokensEnforced) refuses to re-open v1. */
const isUnsupported = (error: unknown) => /UnsupportedOperation/.test(errorCode(error));

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

/** Modify, then re-read (batched) until EC2 shows the options applied. */
export const act = async (
  ports: ShardPorts,
  shard: Shard,
  targets: InstanceResult[],
  options: ShardOptions,
  errors: ScopeError[],
): Promise<void> => {
  const { log } = options;
  const limit = pLimit(options.modifyConcurrency ?? 5);
  const { attempts, delayMs } = options.verify ?? { attempts: 10, delayMs: 1000 };
  const sent: InstanceResult[] = [];
  await Promise.all(
    targets.map((target) =>
      limit(async () => {
        try {
          await changePatiently(ports, target, attempts, delayMs);
          sent.push(target);
        } catch (error) {
          if (isRevert(target) && isUnsupported(error)) {
            log.error('revert impossible', { ...shard, instanceId: target.instanceId, reason: describeError(error) });
            target.reason = `${target.reason}; the revert is impossible: this account enforces IMDSv2 for every instance (HttpTokensEnforced), so fix the workload or lift the account setting (${describeError(error)})`;
            return;
          }
          if (isNotFound(error)) {
            log.warn('instance gone before it could be changed', { ...shard, instanceId: target.instanceId, verdict: target.verdict });
            target.reason = `terminated before it could be changed (was ${target.verdict})`;
            target.verdict = 'gone';
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
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(delayMs * Math.min(attempt - 1, 5));
    let current;
    try {
      current = await ports.ec2.readMetadataOptions(pending.map((t) => t.instanceId));
    } catch (error) {
      log.warn('re-read failed, will retry', { ...shard, attempt, reason: describeError(error) });
      continue;
    }
    pending = pending.filter((target) => {
      const options = current.get(target.instanceId);
      if (!options) {
        target.reason = `terminated while ${target.verdict} was being applied`;
        target.verdict = 'gone';
        return false;
      }
      const applied = options.state === 'applied' && options.httpTokens === wantedTokens(target) && options.hopLimit === target.hopLimit;
      if (applied) target.changed = true;
      return !applied;
    });
  }
  for (const target of pending) {
    target.reason = `${target.verdict} sent, but EC2 did not show it applied after ${attempts} reads`;
    target.verdict = 'error';
  }

  const changed = targets.filter((t) => t.changed);
  const at = options.now.toISOString();
  const groups = new Map<string, InstanceResult[]>();
  for (const t of changed) {
    const key = `${t.verdict}\u0000${t.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const group of groups.values()) {
    const first = group[0];
    if (!first) continue;
    const when = first.verdict === 'enforce' ? TAG_ENFORCED_AT : isRevert(first) ? TAG_REVERTED_AT : TAG_HOP_LIMIT_SET_AT;
    try {
      await ports.ec2.tagInstances(
        group.map((t) => t.instanceId),
        { [when]: at, [TAG_REASON]: first.reason.slice(0, TAG_VALUE_MAX) },
      );
    } catch (error) {
      const message = `changed ${group.length} instance(s) but could not tag them: ${describeError(error)}`;
      log.error('tagging failed', { ...shard, instanceIds: group.map((t) => t.instanceId), reason: message });
      errors.push({ ...shard, message });
    }
  }
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

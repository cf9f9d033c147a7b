import pLimit from 'p-limit';
import type { ShardPorts } from '../ports.ts';
import { describeError } from './errors.ts';
import type { InstanceResult, ScopeError, Shard } from './model.ts';
import type { ShardOptions } from './sweep-shard.ts';
import { MODIFY_METADATA_BUCKET, TokenBucket } from './token-bucket.ts';

export const TAG_ENFORCED_AT = 'imds-remediator:enforced-at';
export const TAG_HOP_LIMIT_SET_AT = 'imds-remediator:hop-limit-set-at';
export const TAG_REASON = 'imds-remediator:reason';
const TAG_VALUE_MAX = 256;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const isNotFound = (error: unknown) =>
  error instanceof Error && /InvalidInstanceID\.(NotFound|Malformed)/.test(`${error.name} ${(error as { Code?: string }).Code ?? ''}`);

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
  // One shard is one account-region: its modifies share EC2's bucket for that account-region.
  const bucket = new TokenBucket(MODIFY_METADATA_BUCKET.capacity, MODIFY_METADATA_BUCKET.refillPerSecond, options.clock);
  const sent: InstanceResult[] = [];
  await Promise.all(
    targets.map((target) =>
      limit(async () => {
        try {
          await bucket.take();
          await ports.ec2.requireTokens(target.instanceId, target.hopLimit);
          sent.push(target);
        } catch (error) {
          const why = isNotFound(error) ? 'instance no longer exists' : describeError(error);
          log.error('change failed', { ...shard, instanceId: target.instanceId, verdict: target.verdict, reason: why });
          target.reason = `${target.verdict} failed: ${why}`;
          target.verdict = 'error';
        }
      }),
    ),
  );

  const { attempts, delayMs } = options.verify ?? { attempts: 10, delayMs: 1000 };
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
        target.reason = `${target.verdict} sent, but the instance no longer exists`;
        target.verdict = 'error';
        return false;
      }
      const applied = options.state === 'applied' && options.httpTokens === 'required' && options.hopLimit === target.hopLimit;
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
    const when = first.verdict === 'enforce' ? TAG_ENFORCED_AT : TAG_HOP_LIMIT_SET_AT;
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

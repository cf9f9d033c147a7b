// The rollback watch's one change, the revert, re-opens IMDSv1 on the word of the instance's
// `imds-remediator:enforced-at` tag. Anyone who may tag the instance can write that tag, so a
// revert also needs the tool's own record in a second service to agree: the Security Hub
// finding this tool imported for the instance (this account-region's Id, our GeneratorId),
// whose EnforcedAt is written only when the tool itself enforced. Otherwise the run alerts only.
import { describeError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import type { InstanceFacts, Shard } from '../domain/model.ts';
import { TAG_ENFORCED_AT } from '../domain/tags.ts';
import { findingId } from './asff.ts';
import { findingsQuery } from './record.ts';
import type { FindingsPort } from './port.ts';

/**
 * The instances among these whose enforced-at tag the tool's own finding does not confirm,
 * each with why its revert is withheld. Never throws: a record that cannot be read confirms nothing.
 */
export const unconfirmedEnforcements = async (
  port: FindingsPort | undefined,
  shard: Shard,
  instances: InstanceFacts[],
  log: Log,
): Promise<Map<string, string>> => {
  if (instances.length === 0) return new Map();
  const withhold = (why: string) => new Map(instances.map((f) => [f.instanceId, `not reverted, alert only: ${why}`]));
  if (!port) return withhold("no Security Hub finding of this tool can be read here to confirm the instance's enforced-at tag");
  let recorded;
  try {
    recorded = await port.existing(findingsQuery(shard));
  } catch (error) {
    log.warn('cannot read the findings that confirm enforcements, no revert', { ...shard, instances: instances.length, reason: describeError(error) });
    return withhold(`the tool's Security Hub finding that would confirm the enforced-at tag cannot be read (${describeError(error)})`);
  }
  const unconfirmed = new Map<string, string>();
  for (const facts of instances) {
    const tag = facts.tags[TAG_ENFORCED_AT];
    const enforcedAt = recorded.get(findingId(shard, facts.instanceId))?.enforcedAt;
    if (tag !== undefined && enforcedAt === tag) continue;
    const why =
      enforcedAt === undefined
        ? `the tool's Security Hub finding records no enforcement of this instance, so its ${TAG_ENFORCED_AT} tag was not written by the tool`
        : `the ${TAG_ENFORCED_AT} tag (${tag ?? 'absent'}) is not the enforcement the tool's Security Hub finding records (${enforcedAt})`;
    unconfirmed.set(facts.instanceId, `not reverted, alert only: ${why}`);
    log.warn('revert withheld', { ...shard, instanceId: facts.instanceId, reason: why });
  }
  return unconfirmed;
};

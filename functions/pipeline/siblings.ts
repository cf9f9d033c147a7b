// A launch has no history of its own: what its siblings (same Auto Scaling group, else launch
// template, in that account-region; not the AMI) did over the window stands in for it.
import type { LaunchContext } from '../domain/decide.ts';
import { needsEvidence } from '../domain/decide.ts';
import { describeError } from '../domain/errors.ts';
import type { InstanceFacts, MetricSums } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import { TAG_ASG, TAG_LAUNCH_TEMPLATE } from '../domain/tags.ts';
import { evidenceWindow } from './observe.ts';
import type { ShardPorts } from './ports.ts';

/** Siblings share the Auto Scaling group; without one, the launch template. Not the AMI. */
const siblingKey = (facts: InstanceFacts): { tag: string; value: string; label: string } | undefined => {
  const asg = facts.tags[TAG_ASG];
  if (asg) return { tag: TAG_ASG, value: asg, label: `Auto Scaling group ${asg}` };
  const template = facts.tags[TAG_LAUNCH_TEMPLATE];
  if (template) return { tag: TAG_LAUNCH_TEMPLATE, value: template, label: `launch template ${template}` };
  return undefined;
};

/** One DescribeInstances per tag kind and one GetMetricData per 500 siblings, whatever the event's size. */
export const observeSiblings = async (
  ports: ShardPorts,
  launched: InstanceFacts[],
  actor: string,
  policy: Policy,
  now: Date,
): Promise<Map<string, LaunchContext>> => {
  const keyed = launched.filter(needsEvidence).map((facts) => ({ facts, key: siblingKey(facts) }));
  const valuesByTag = new Map<string, Set<string>>();
  for (const { key } of keyed) if (key) valuesByTag.set(key.tag, (valuesByTag.get(key.tag) ?? new Set()).add(key.value));

  const own = new Set(launched.map((f) => f.instanceId));
  let unique: InstanceFacts[] = [];
  let evidence = new Map<string, MetricSums>();
  let failure: string | undefined;
  try {
    const siblings: InstanceFacts[] = [];
    for (const [tag, values] of valuesByTag) {
      siblings.push(...(await ports.ec2.findInstancesByTag(tag, [...values])).filter((s) => !own.has(s.instanceId)));
    }
    unique = [...new Map(siblings.map((s) => [s.instanceId, s])).values()];
    if (unique.length > 0) evidence = await ports.metrics.countNoTokenCalls(unique.map((s) => s.instanceId), evidenceWindow(policy, now));
  } catch (error) {
    failure = describeError(error);
  }

  const contexts = new Map<string, LaunchContext>();
  for (const { facts, key } of keyed) {
    const usingV1 = key
      ? unique
          .filter((s) => s.tags[key.tag] === key.value)
          .map((s) => ({ instanceId: s.instanceId, noTokenCalls: evidence.get(s.instanceId)?.calls ?? 0 }))
          .filter((s) => s.noTokenCalls > 0)
          .sort((a, b) => b.noTokenCalls - a.noTokenCalls)
      : [];
    // Only an instance with siblings to learn from depends on their evidence.
    const siblingsFailure = key ? failure : undefined;
    contexts.set(facts.instanceId, { kind: 'launch', actor, siblingGroup: key?.label, siblingsUsingV1: usingV1, siblingsFailure });
  }
  return contexts;
};

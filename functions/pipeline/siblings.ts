// A launch has no history of its own: what its siblings (same Auto Scaling group, else launch
// template, in that account-region; not the AMI) did over the window stands in for it. Their
// evidence follows the sweep's rules: no datapoints is unknown, and a sibling that requires
// tokens shows its workload's IMDSv1 attempts only as rejected calls, which count as IMDSv1 use.
import type { SiblingEvidence, Siblings } from '../domain/decide.ts';
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

/** Answered and rejected IMDSv1 calls together; observed on the days either metric has datapoints. */
const combine = (instanceId: string, noToken: MetricSums | undefined, rejected: MetricSums | undefined): SiblingEvidence => ({
  instanceId,
  calls: (noToken?.calls ?? 0) + (rejected?.calls ?? 0),
  observedDays: Math.max(noToken?.observedDays ?? 0, rejected?.observedDays ?? 0),
});

/**
 * The siblings of each instance that allows IMDSv1, with their evidence: one DescribeInstances
 * per tag kind, one GetMetricData per 500 siblings, and one more per 500 siblings that require tokens.
 */
export const observeSiblings = async (ports: ShardPorts, instances: InstanceFacts[], policy: Policy, now: Date): Promise<Map<string, Siblings>> => {
  const keyed = instances.filter(needsEvidence).map((facts) => ({ facts, key: siblingKey(facts) }));
  const valuesByTag = new Map<string, Set<string>>();
  for (const { key } of keyed) if (key) valuesByTag.set(key.tag, (valuesByTag.get(key.tag) ?? new Set()).add(key.value));

  const own = new Set(instances.map((f) => f.instanceId));
  let unique: InstanceFacts[] = [];
  let noToken = new Map<string, MetricSums>();
  let rejected = new Map<string, MetricSums>();
  let failure: string | undefined;
  try {
    const siblings: InstanceFacts[] = [];
    for (const [tag, values] of valuesByTag) {
      siblings.push(...(await ports.ec2.findInstancesByTag(tag, [...values])).filter((s) => !own.has(s.instanceId)));
    }
    // A sibling with IMDS off makes no IMDS call at all: it says nothing about IMDSv1 use.
    unique = [...new Map(siblings.map((s) => [s.instanceId, s])).values()].filter((s) => s.metadata.httpEndpoint === 'enabled');
    const window = evidenceWindow(policy, now);
    if (unique.length > 0) noToken = await ports.metrics.countNoTokenCalls(unique.map((s) => s.instanceId), window);
    const enforced = unique.filter((s) => s.metadata.httpTokens === 'required').map((s) => s.instanceId);
    if (enforced.length > 0) rejected = await ports.metrics.countRejectedCalls(enforced, window);
  } catch (error) {
    failure = describeError(error);
  }

  const result = new Map<string, Siblings>();
  for (const { facts, key } of keyed) {
    const evidence = key
      ? unique.filter((s) => s.tags[key.tag] === key.value).map((s) => combine(s.instanceId, noToken.get(s.instanceId), rejected.get(s.instanceId)))
      : [];
    // Only an instance with siblings to learn from depends on their evidence.
    result.set(facts.instanceId, { group: key?.label, evidence, failure: key ? failure : undefined });
  }
  return result;
};

import type { Decision, Evidence, InstanceFacts, MetricSums } from './model.ts';
import { hopLimitFor, matchesTag, type Policy } from './policy.ts';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_RAISED_AT, TAG_REOPENED_AT, TAG_REVERTED_AT } from './tags.ts';
import { DAY_MS } from './time.ts';

/** One sibling's IMDSv1 use: calls answered, plus calls rejected where it requires tokens, and its observed days. */
export interface SiblingEvidence {
  instanceId: string;
  calls: number;
  observedDays: number;
}

/** Siblings: instances of the same Auto Scaling group (or else launch template) in that account-region. */
export interface Siblings {
  /** e.g. "Auto Scaling group web"; undefined when the instance has no group or template. */
  group: string | undefined;
  /** Each other instance of the group with the IMDS endpoint on; empty when there is none. */
  evidence: SiblingEvidence[];
  /** Why the siblings' evidence could not be read; undefined when it was. */
  failure?: string | undefined;
}

export interface LaunchContext {
  kind: 'launch';
  actor: string;
  siblings: Siblings;
}

/** Someone set HttpTokens back to optional (CloudTrail ModifyInstanceMetadataOptions). */
export interface DriftContext {
  kind: 'drift';
  actor: string;
  siblings: Siblings;
}

export interface DecideContext {
  /** Why the whole account is exempt (listed, or inside an exempt OU); undefined when it is not. */
  accountExemption?: string | undefined;
  /** Set when an event (not the sweep) asks for the decision. */
  event?: LaunchContext | DriftContext | undefined;
  now: Date;
}


/**
 * Did this tool ever enforce IMDSv2 here? Then rejected v1 calls are read: while enforced they
 * mean a failing workload (the rollback watch); after a revert or a re-open they still prove v1
 * use, which MetadataNoToken cannot show for the days the calls were refused.
 */
export const isWatchedForRejections = (facts: InstanceFacts): boolean =>
  facts.metadata.httpEndpoint === 'enabled' && TAG_ENFORCED_AT in facts.tags;

/** Does this instance need MetadataNoToken evidence before a verdict can be reached? */
export const needsEvidence = (facts: InstanceFacts): boolean =>
  facts.metadata.httpEndpoint === 'enabled' && facts.metadata.httpTokens === 'optional';

const forcedBy = (policy: Policy, facts: InstanceFacts): string | undefined => {
  if (policy.force.instanceIds.includes(facts.instanceId)) return 'force.instanceIds';
  const index = policy.force.tags.findIndex((match) => matchesTag(facts.tags, match));
  return index >= 0 ? `force.tags[${index}]` : undefined;
};

const exemptBy = (policy: Policy, facts: InstanceFacts, context: DecideContext): string | undefined => {
  if (context.accountExemption) return context.accountExemption;
  const index = policy.exempt.tags.findIndex((match) => matchesTag(facts.tags, match));
  if (index < 0) return undefined;
  const match = policy.exempt.tags[index];
  return `exempt by tag ${match?.key}${match?.values ? `=${match.values.join('|')}` : ''} (exempt.tags[${index}])`;
};

/** Siblings whose evidence blocks a change, by IMDSv1 use among them or by evidence that could not be read. */
const siblingsBlock = (siblings: Siblings, policy: Policy, verdict: (v: Decision['verdict'], reason: string) => Decision): Decision | undefined => {
  if (siblings.failure) return verdict('error', `cannot read the siblings' IMDSv1 evidence: ${siblings.failure}`);
  const users = siblings.evidence.filter((s) => s.calls > 0).sort((a, b) => b.calls - a.calls);
  if (users.length === 0) return undefined;
  const total = users.reduce((sum, s) => sum + s.calls, 0);
  const shown = users.slice(0, 3).map((s) => `${s.instanceId} (${s.calls})`).join(', ');
  const more = users.length > 3 ? ` and ${users.length - 3} more` : '';
  return verdict(
    'blocked-v1-in-use',
    `siblings use IMDSv1: ${total} calls over the last ${policy.lookbackDays} days by ${shown}${more} in ${siblings.group ?? 'its group'}`,
  );
};

const decideLaunch = (
  launch: LaunchContext,
  policy: Policy,
  hopNote: string,
  verdict: (v: Decision['verdict'], reason: string) => Decision,
): Decision => {
  const blocked = siblingsBlock(launch.siblings, policy, verdict);
  if (blocked) return blocked;
  const { group, evidence } = launch.siblings;
  // Siblings stand in for a missing history only where they have one: no datapoints is unknown, not zero.
  const measured = evidence.filter((s) => s.observedDays >= policy.minObservedDays).length;
  if (evidence.length > 0 && measured === 0) {
    return verdict(
      'insufficient-evidence',
      `new instance with no history, and none of its ${evidence.length} siblings in ${group ?? 'its group'} was observed on ${policy.minObservedDays} days (minObservedDays): their IMDSv1 use is unknown; the sweep decides once there is evidence`,
    );
  }
  if (policy.onLaunch === 'wait') {
    return verdict('insufficient-evidence', 'new instance with no history; policy onLaunch is wait: the sweep decides once evidence exists');
  }
  const learned =
    measured > 0
      ? `no IMDSv1 call by ${measured} sibling${measured === 1 ? '' : 's'} observed on at least ${policy.minObservedDays} days in ${group ?? 'its group'}`
      : 'no Auto Scaling group or launch template siblings to learn from';
  return verdict('enforce', `new instance launched by ${launch.actor}: no history, and ${learned}; ${hopNote}`);
};

/**
 * Launch rules hold for instances launched this recently. A RunInstances event handled later
 * (a dead-letter redrive, an archive replay, a saved file) names an instance with a history
 * of its own, which the sweep's rules judge.
 */
export const LAUNCH_WINDOW_MINUTES = 15;

/** Launched within the launch window before `now` (a launch time a little after `now` is clock skew). */
export const isFreshLaunch = (facts: InstanceFacts, now: Date): boolean =>
  facts.launchTime !== undefined && now.getTime() - facts.launchTime.getTime() <= LAUNCH_WINDOW_MINUTES * 60_000;

const ageNote = (facts: InstanceFacts, now: Date): string => {
  if (!facts.launchTime) return '';
  const days = Math.floor((now.getTime() - facts.launchTime.getTime()) / DAY_MS);
  return days < 1 ? '; launched less than a day ago' : `; launched ${days} day${days === 1 ? '' : 's'} ago`;
};

/**
 * The core decision, pure: what should happen to one instance given its facts, the
 * evidence the observe step read (each metric read, failed, or not needed) and the policy.
 * It owns every verdict, `error` included: a failed evidence read is an error here, not later.
 */
export const decide = (facts: InstanceFacts, evidence: Evidence, policy: Policy, context: DecideContext): Decision => {
  const decision = decideInstance(facts, evidence, policy, context);
  return { ...decision, reason: withEvent(decision, facts, context) };
};

/** The reason, saying what the event had to do with it. */
const withEvent = (decision: Decision, facts: InstanceFacts, context: DecideContext): string => {
  const { event, now } = context;
  if (event?.kind === 'drift' && decision.verdict !== 'reopened-after-enforcement') return `IMDSv1 re-opened by ${event.actor}; ${decision.reason}`;
  if (event?.kind !== 'launch' || isFreshLaunch(facts, now)) return decision.reason;
  const launched = facts.launchTime ? `launched ${Math.round((now.getTime() - facts.launchTime.getTime()) / 60_000)} minutes ago` : 'launched at an unknown time';
  return `${decision.reason}; named by a RunInstances event but ${launched}, past the ${LAUNCH_WINDOW_MINUTES}-minute launch window: decided by the sweep's rules`;
};

/**
 * Did rejected calls begin within `days` of this tool's enforcement? Days are whole UTC days,
 * as CloudWatch buckets them: the enforcement's own day counts. An unreadable tag or an
 * unknown first day is not proof, so it never allows a revert.
 */
const beganSoonAfter = (enforcedAt: string | undefined, firstDay: Date | undefined, days: number): boolean => {
  const enforced = Date.parse(enforcedAt ?? '');
  if (Number.isNaN(enforced) || firstDay === undefined) return false;
  const enforcedDay = Math.floor(enforced / DAY_MS) * DAY_MS;
  return firstDay.getTime() >= enforcedDay && firstDay.getTime() <= enforced + days * DAY_MS;
};

const ENFORCE_AGAIN = `fix what needs IMDSv1, then remove the tag ${TAG_REOPENED_AT} (or set HttpTokens=required yourself) to have it enforced again, or exempt it`;

/**
 * Did someone re-open IMDSv1 after this tool enforced it? A drift event on an instance whose
 * last change by this tool was an enforcement says so (the tool's own revert stamps
 * `reverted-at` first), and so does a re-open the event path recorded since the last
 * enforcement. Enforcing again would fight a person or infrastructure as code in a loop.
 * An unreadable timestamp counts as a fight: leaving IMDSv1 open breaks nothing.
 */
const reopenedAfterEnforcement = (facts: InstanceFacts, context: DecideContext): string | undefined => {
  const enforcedAt = facts.tags[TAG_ENFORCED_AT];
  if (enforcedAt === undefined) return undefined;
  const enforced = Date.parse(enforcedAt);
  const lastChangeWasEnforcement = !(Date.parse(facts.tags[TAG_REVERTED_AT] ?? '') >= enforced);
  if (context.event?.kind === 'drift' && lastChangeWasEnforcement) {
    return `IMDSv1 re-opened by ${context.event.actor} after this tool enforced IMDSv2 at ${enforcedAt}: left open and not enforced again, since a person or infrastructure as code chose optional and enforcing would fight them; ${ENFORCE_AGAIN}`;
  }
  const reopenedAt = facts.tags[TAG_REOPENED_AT];
  if (reopenedAt !== undefined && !(enforced > Date.parse(reopenedAt))) {
    return `IMDSv1 was re-opened at ${reopenedAt} (tag ${TAG_REOPENED_AT}), after this tool enforced IMDSv2 at ${enforcedAt}: left open; ${ENFORCE_AGAIN}`;
  }
  return undefined;
};

const decideInstance = (facts: InstanceFacts, evidence: Evidence, policy: Policy, context: DecideContext): Decision => {
  const { hopLimit: wanted, rule } = hopLimitFor(policy, facts.tags);
  const { httpEndpoint, httpTokens, hopLimit: currentHop } = facts.metadata;
  // A hop limit above the rule's stays unless the policy allows lowering it: at hop 1 a
  // container's token PUT gets no answer, v1 is refused, and the container loses its credentials.
  const keepsHigher = currentHop > wanted && policy.hopLimit.lower !== 'apply';
  const hopLimit = keepsHigher ? currentHop : wanted;
  const hopNote = keepsHigher
    ? `hop limit ${currentHop} kept, above the ${wanted} that ${rule} wants (hopLimit.lower: ${policy.hopLimit.lower})`
    : `hop limit ${hopLimit} by ${rule}`;
  const verdict = (v: Decision['verdict'], reason: string): Decision => ({ verdict: v, reason, hopLimit });

  if (httpEndpoint === 'disabled') return verdict('compliant', 'IMDS endpoint disabled, stronger than IMDSv2');
  // For an instance that requires tokens a failed rejected-calls read only stops the rollback
  // watch (observe reports it); for one that allows IMDSv1 it blocks any change, below.
  const rejected = evidence.rejected.status === 'read' ? evidence.rejected.value.calls : 0;
  if (httpTokens === 'required' && isWatchedForRejections(facts) && rejected > 0) {
    const since = facts.tags[TAG_ENFORCED_AT];
    const firstDay = evidence.rejected.status === 'read' ? evidence.rejected.value.firstDay : undefined;
    if (!beganSoonAfter(since, firstDay, policy.revertWithinDays)) {
      const began = firstDay ? `first on ${firstDay.toISOString().slice(0, 10)}` : 'starting on an unknown day';
      return verdict(
        'possible-ssrf-probe',
        `${rejected} IMDSv1 calls rejected (MetadataNoTokenRejected), ${began}, more than ${policy.revertWithinDays} days (revertWithinDays) after IMDSv2 was enforced at ${since}: a workload the enforcement broke fails at once, so this may be an SSRF probe without a token; alert only, IMDSv1 stays closed whatever the rollback policy`,
      );
    }
    const action = policy.rollback === 'revert' ? 'reverting to HttpTokens=optional (policy rollback: revert)' : 'alert only (policy rollback: alert)';
    return verdict(
      'v1-rejected',
      `${rejected} IMDSv1 calls rejected (MetadataNoTokenRejected) since IMDSv2 was enforced at ${since}: a workload still uses v1 and is failing; ${action}`,
    );
  }
  if (httpTokens === 'required' && currentHop === wanted) {
    return verdict('compliant', `IMDSv2 required, hop limit ${currentHop} as ${rule} wants`);
  }
  if (httpTokens === 'required' && keepsHigher && policy.hopLimit.lower === 'never') {
    return verdict('compliant', `IMDSv2 required, ${hopNote}`);
  }

  const exemption = exemptBy(policy, facts, context);
  if (exemption) return verdict('exempt', `${exemption}; left as HttpTokens=${httpTokens}, hop limit ${currentHop}`);

  if (httpTokens === 'required' && keepsHigher) {
    return verdict('hop-limit-above-policy', `IMDSv2 required, ${hopNote}: lower it by hand once no container on it needs IMDS`);
  }
  if (httpTokens === 'required') {
    return verdict('fix-hop-limit', `IMDSv2 required but hop limit ${currentHop}; ${rule} wants ${hopLimit}`);
  }

  const forced = forcedBy(policy, facts);
  const window = `the last ${policy.lookbackDays} days`;
  if (forced) {
    const seen = evidence.noToken.status === 'read' ? `${evidence.noToken.value.calls} IMDSv1 calls over ${window}` : 'evidence not read';
    return verdict('enforce', `forced by policy (${forced}) regardless of evidence: ${seen}; ${hopNote}`);
  }
  const fight = reopenedAfterEnforcement(facts, context);
  if (fight) return verdict('reopened-after-enforcement', fight);
  if (evidence.noToken.status === 'failed') return verdict('error', evidence.noToken.reason);
  if (evidence.rejected.status === 'failed') {
    return verdict('error', `cannot read MetadataNoTokenRejected, the IMDSv1 calls refused while IMDSv2 was required: ${evidence.rejected.reason}`);
  }
  if (evidence.noToken.status !== 'read') return verdict('insufficient-evidence', 'no MetadataNoToken evidence was read');
  const noToken: MetricSums = evidence.noToken.value;
  // A launch's own IMDSv1 calls are judged by the sweep's rules below: a single one blocks it.
  const launch = context.event?.kind === 'launch' && isFreshLaunch(facts, context.now) ? context.event : undefined;
  if (launch && noToken.calls === 0) return decideLaunch(launch, policy, hopNote, verdict);
  // A re-open (drift) is judged by the rules below, the sweep's, and by its siblings' evidence at the end.
  if (rejected > 0 && noToken.calls === 0) {
    const reverted = facts.tags[TAG_REVERTED_AT] ? ` (reverted at ${facts.tags[TAG_REVERTED_AT]})` : '';
    return verdict(
      'blocked-v1-in-use',
      `${rejected} IMDSv1 calls were rejected over ${window} while IMDSv2 was enforced${reverted}: the workload uses v1, so it is not enforced again until it stops`,
    );
  }
  if (noToken.calls > 0 && hopLimit > currentHop) {
    return verdict(
      'raise-hop-limit',
      `${noToken.calls} IMDSv1 calls (MetadataNoToken) over ${window} at hop limit ${currentHop}, and ${rule} wants ${hopLimit}: a container whose token PUT cannot reach IMDS falls back to IMDSv1, so the hop limit is raised first with IMDSv1 still allowed (IMDSv1 calls are not hop-limited: nothing breaks) and the calls are measured again`,
    );
  }
  if (noToken.calls > 0) {
    const raisedAt = facts.tags[TAG_HOP_LIMIT_RAISED_AT];
    const measuring = raisedAt ? `; hop limit raised at ${raisedAt} to measure again: enforced once the window shows no IMDSv1 call` : '';
    return verdict('blocked-v1-in-use', `${noToken.calls} IMDSv1 calls (MetadataNoToken) over ${window}${measuring}`);
  }
  if (noToken.observedDays === 0) {
    return verdict(
      'insufficient-evidence',
      `no MetadataNoToken datapoints in ${window}: unknown, not zero${ageNote(facts, context.now)}`,
    );
  }
  if (noToken.observedDays < policy.minObservedDays) {
    return verdict(
      'insufficient-evidence',
      `0 IMDSv1 calls but only ${noToken.observedDays} of the ${policy.minObservedDays} days required observed${ageNote(facts, context.now)}`,
    );
  }
  const siblingsBlocked = context.event?.kind === 'drift' ? siblingsBlock(context.event.siblings, policy, verdict) : undefined;
  if (siblingsBlocked) return siblingsBlocked;
  return verdict(
    'enforce',
    `0 IMDSv1 calls on ${noToken.observedDays} observed days of ${window}; ${hopNote}`,
  );
};

// Launch templates, pure: whether a template still lets new instances open IMDSv1, and whether
// the evidence of the instances launched from it allows a new default version that requires
// IMDSv2. The same rules as for instances: unknown is never zero, minObservedDays, rejected
// calls count, and a hop limit is never lowered.
import type { Evidence, InstanceFacts } from './model.ts';
import { hopLimitFor, matchesTag, type Policy } from './policy.ts';
import { TAG_TEMPLATE_FIXED_AT } from './tags.ts';

export const TEMPLATE_VERDICTS = ['compliant', 'fix', 'blocked-v1-in-use', 'blocked', 'insufficient-evidence', 'exempt', 'error'] as const;
export type TemplateVerdict = (typeof TEMPLATE_VERDICTS)[number];

/** How the text report and Slack name each verdict. */
export const TEMPLATE_LABELS: Record<TemplateVerdict, string> = {
  compliant: 'Compliant',
  fix: 'New default version requiring IMDSv2',
  'blocked-v1-in-use': 'Blocked (instances use IMDSv1)',
  blocked: 'Left for a person (set back after a fix, or $Latest differs from $Default)',
  'insufficient-evidence': 'Not enough evidence',
  exempt: 'Exempt',
  error: 'Errors',
};

/** A template version's metadata options as stored: absent fields take the launch's defaults (IMDSv1 allowed, hop limit 1). */
export interface TemplateMetadata {
  httpTokens: 'optional' | 'required' | undefined;
  httpEndpoint: 'enabled' | 'disabled' | undefined;
  hopLimit: number | undefined;
}

export interface TemplateVersionFacts {
  versionNumber: number;
  metadata: TemplateMetadata;
  /** The tags this version gives the instances it launches (its TagSpecifications for `instance`). */
  instanceTags: Record<string, string>;
}

/** An Auto Scaling group that launches from a template, and which version it names. */
export interface TemplateUser {
  group: string;
  /** `$Default`, `$Latest` or a version number. */
  version: string;
}

export interface TemplateFacts {
  launchTemplateId: string;
  launchTemplateName: string;
  tags: Record<string, string>;
  defaultVersion: number;
  latestVersion: number;
  /** Set when a service (EKS, for example) manages the template: changed only through that service. */
  managedBy: string | undefined;
  /** $Default, $Latest and every version a group pins, by number. */
  versions: Map<number, TemplateVersionFacts>;
  groups: TemplateUser[];
  /** An earlier version this tool made (found when $Default allows IMDSv1 again); undefined when none is known. */
  earlierFix?: string | undefined;
}

/** A version the fix creates: a copy of `sourceVersion`'s launch data with these metadata options. */
export interface TemplateChange {
  sourceVersion: number;
  /** Undefined: left unset in the copy, as in the source (the AMI's or the account's default applies). */
  hopLimit: number | undefined;
  /** Made the template's default version; otherwise it only becomes $Latest, as it was. */
  makeDefault: boolean;
}

/** A group that pins a numbered version that allows IMDSv1: versions never change, so the group must move. */
export interface PinnedGroup {
  group: string;
  version: number;
}

/** One instance launched from the template, as far as the template cares. */
export interface LaunchedInstance {
  instanceId: string;
  calls: number;
}

export interface TemplateDecision {
  verdict: TemplateVerdict;
  reason: string;
  /** The versions to create, in order; empty unless the verdict is `fix`. */
  changes: TemplateChange[];
  /** Does $Default (or a $Latest a group uses) allow IMDSv1 now? */
  allowsV1: boolean;
  pinned: PinnedGroup[];
  /** Running instances launched from the template. */
  instances: number;
  /** The instances that use IMDSv1 (answered or rejected calls), heaviest first. */
  v1Users: LaunchedInstance[];
}

export interface TemplateResult {
  accountId: string;
  region: string;
  launchTemplateId: string;
  launchTemplateName: string;
  verdict: TemplateVerdict;
  /** True while its $Default (or a $Latest a group uses) still allows IMDSv1 after this run. */
  allowsV1: boolean;
  reason: string;
  /** The default version before this run, and after it when the run made a new one. */
  defaultVersion: number;
  /** The versions this run created (empty in a plan, or when nothing changed). */
  createdVersions: number[];
  /** What a fix does (or would do): the copies it makes, each with its hop limit. */
  changes: TemplateChange[];
  changed: boolean;
  /** Running instances launched from it. */
  instances: number;
  /** The heaviest IMDSv1 users among them (at most TEMPLATE_V1_USERS_MAX). */
  v1Users: LaunchedInstance[];
  /** Auto Scaling groups that pin a version allowing IMDSv1: what to do is in `pinnedAdvice`. */
  pinned: PinnedGroup[];
}

/** A launch configuration that allows IMDSv1: it cannot be changed, only replaced. */
export interface LaunchConfigurationResult {
  accountId: string;
  region: string;
  name: string;
  groups: string[];
  reason: string;
}

export const TEMPLATE_V1_USERS_MAX = 5;

export const templateAllowsV1 = (m: TemplateMetadata): boolean => m.httpEndpoint !== 'disabled' && m.httpTokens !== 'required';

/**
 * The hop limit a fixed version gets: the highest of the source's own, the hop limits its
 * instances actually run with (an unset one is not 1: the AMI or the account default may give 2)
 * and what the policy wants for the template and its instances. Never lowered. Undefined when the
 * source sets none, no instance shows what it launches with and the policy wants no more than 1:
 * the copy then leaves it unset too.
 */
export const wantedTemplateHopLimit = (
  policy: Policy,
  template: Pick<TemplateFacts, 'tags'>,
  version: TemplateVersionFacts,
  launched: InstanceFacts[],
): { hopLimit: number | undefined; why: string; below: boolean } => {
  const own = hopLimitFor(policy, { ...version.instanceTags, ...template.tags });
  const wanted = Math.max(own.hopLimit, ...launched.map((f) => hopLimitFor(policy, f.tags).hopLimit));
  const running = launched.flatMap((f) => (f.metadata.hopLimit !== undefined ? [f.metadata.hopLimit] : []));
  const current = version.metadata.hopLimit;
  const actual = Math.max(current ?? 0, ...running);
  // What launches from it now: the source's own value, or else what its instances show.
  const below = (current ?? (running.length > 0 ? Math.max(...running) : 1)) < wanted;
  if (current === undefined && running.length === 0 && wanted <= 1) return { hopLimit: undefined, why: 'hop limit left unset, as in the source', below };
  const hopLimit = Math.max(wanted, actual);
  const why =
    hopLimit > wanted
      ? `hop limit ${hopLimit} kept (${current === hopLimit ? 'the template sets it' : 'its instances run with it'}; never lowered)`
      : hopLimit > own.hopLimit
        ? `hop limit ${hopLimit}, what the policy wants for the instances launched from it`
        : `hop limit ${hopLimit} by ${own.rule}`;
  return { hopLimit, why, below };
};

/** Does this version need a new copy: IMDSv1 allowed, or a hop limit below the wanted one? IMDS off is compliant. */
const needsFix = (version: TemplateVersionFacts, hop: { below: boolean }): boolean =>
  version.metadata.httpEndpoint !== 'disabled' && (templateAllowsV1(version.metadata) || hop.below);

/** One launched instance's IMDSv1 use by the sweep's rules: calls, or why it is unknown. */
export const launchedUse = (
  facts: InstanceFacts,
  evidence: Evidence,
  policy: Pick<Policy, 'minObservedDays' | 'lookbackDays'>,
): { calls: number } | { unknown: string; failed?: true } => {
  if (facts.metadata.httpEndpoint === 'disabled') return { calls: 0 };
  if (evidence.rejected.status === 'failed') return { unknown: `its MetadataNoTokenRejected could not be read (${evidence.rejected.reason})`, failed: true };
  const rejected = evidence.rejected.status === 'read' ? evidence.rejected.value.calls : 0;
  // It requires tokens: its IMDSv1 attempts are the rejected ones, and it runs on IMDSv2 otherwise;
  // but no datapoints, or too few days, is unknown, not zero, as for any instance.
  if (facts.metadata.httpTokens === 'required') {
    if (rejected > 0) return { calls: rejected };
    if (evidence.rejected.status !== 'read') return { unknown: 'its MetadataNoTokenRejected was not read' };
    const days = Math.max(evidence.rejected.value.observedDays, evidence.noToken.status === 'read' ? evidence.noToken.value.observedDays : 0);
    if (days === 0) return { unknown: `no MetadataNoTokenRejected datapoints in the last ${policy.lookbackDays} days` };
    if (days < policy.minObservedDays) return { unknown: `observed on ${days} of the ${policy.minObservedDays} days required` };
    return { calls: 0 };
  }
  if (evidence.noToken.status === 'failed') return { unknown: `its MetadataNoToken could not be read (${evidence.noToken.reason})`, failed: true };
  if (evidence.noToken.status !== 'read') return { unknown: 'its MetadataNoToken was not read' };
  const { calls, observedDays } = evidence.noToken.value;
  if (calls + rejected > 0) return { calls: calls + rejected };
  if (observedDays === 0) return { unknown: `no MetadataNoToken datapoints in the last ${policy.lookbackDays} days` };
  if (observedDays < policy.minObservedDays) return { unknown: `observed on ${observedDays} of the ${policy.minObservedDays} days required` };
  return { calls: 0 };
};

export interface TemplateContext {
  /** Why the whole account is exempt; undefined when it is not. */
  accountExemption?: string | undefined;
  /**
   * Running instances launched from the template's other versions: they do not vouch for the
   * version a fix would copy (another AMI, other user data), so `launched` leaves them out.
   */
  otherVersions?: number | undefined;
}

const list = (items: string[], max = 3) => `${items.slice(0, max).join(', ')}${items.length > max ? ` and ${items.length - max} more` : ''}`;

/**
 * The decision for one template, pure. `launched` are the running instances launched from its
 * $Default version (the one a fix copies), each with the evidence observe read for it.
 */
export const decideTemplate = (
  template: TemplateFacts,
  launched: Array<{ facts: InstanceFacts; evidence: Evidence }>,
  policy: Policy,
  context: TemplateContext = {},
): TemplateDecision => {
  const defaultVersion = template.versions.get(template.defaultVersion);
  const latestVersion = template.versions.get(template.latestVersion);
  const instances = launched.length;
  const base = { changes: [] as TemplateChange[], pinned: [] as PinnedGroup[], instances, v1Users: [] as LaunchedInstance[] };
  if (!defaultVersion || !latestVersion) {
    return { ...base, verdict: 'error', reason: 'its $Default or $Latest version could not be read', allowsV1: true };
  }
  const facts = launched.map((l) => l.facts);
  const wanted = (v: TemplateVersionFacts) => wantedTemplateHopLimit(policy, template, v, facts);

  const pinned = template.groups.flatMap((g): PinnedGroup[] => {
    const n = Number(g.version);
    const version = Number.isInteger(n) ? template.versions.get(n) : undefined;
    return version && templateAllowsV1(version.metadata) ? [{ group: g.group, version: n }] : [];
  });
  const latestUsed = template.groups.some((g) => g.version === '$Latest');
  const defaultBad = needsFix(defaultVersion, wanted(defaultVersion));
  const latestBad = latestUsed && needsFix(latestVersion, wanted(latestVersion));
  const allowsV1 = templateAllowsV1(defaultVersion.metadata) || (latestUsed && templateAllowsV1(latestVersion.metadata));
  const decision = (verdict: TemplateVerdict, reason: string, changes: TemplateChange[] = []): TemplateDecision => ({
    ...base,
    verdict,
    reason,
    changes,
    allowsV1,
    pinned,
  });

  const describe = (v: TemplateVersionFacts, name: string) => {
    const m = v.metadata;
    const tokens = m.httpEndpoint === 'disabled' ? 'IMDS off' : m.httpTokens === 'required' ? 'IMDSv2 required' : `IMDSv1 allowed (HttpTokens ${m.httpTokens ?? 'not set'})`;
    return `${name} (version ${v.versionNumber}): ${tokens}, hop limit ${m.hopLimit ?? 'not set'}`;
  };
  if (!defaultBad && !latestBad) {
    const pins = pinned.length > 0 ? `; but ${pinned.map((p) => `Auto Scaling group ${p.group} pins version ${p.version}, which allows IMDSv1`).join('; ')}` : '';
    return decision('compliant', `${describe(defaultVersion, '$Default')}${latestUsed ? `; ${describe(latestVersion, '$Latest')}, which a group uses` : ''}${pins}`);
  }

  const what = [defaultBad ? describe(defaultVersion, '$Default') : '', latestBad ? `${describe(latestVersion, '$Latest')}, which a group uses` : '']
    .filter(Boolean)
    .join('; ');

  if (context.accountExemption) return decision('exempt', `${context.accountExemption}; ${what}`);
  const exemptTag = policy.exempt.tags.findIndex((m) => matchesTag(template.tags, m));
  if (exemptTag >= 0) return decision('exempt', `exempt by a tag of the template (exempt.tags[${exemptTag}]); ${what}`);
  if (template.managedBy) return decision('exempt', `managed by ${template.managedBy}: change it there; ${what}`);

  // The tool fixed it before and its $Default allows IMDSv1 again: a person or infrastructure as
  // code set it back. Fixing it again would be a fight, not a fix: it is reported.
  const fixedAt = template.tags[TAG_TEMPLATE_FIXED_AT];
  if (fixedAt !== undefined || template.earlierFix !== undefined) {
    const when = fixedAt !== undefined ? `of ${fixedAt.slice(0, 40)}` : `(${template.earlierFix})`;
    return decision('blocked', `${what}; set back after imds-remediator's fix ${when}: a person decides (change it where it is defined; the tool does not fix it again)`);
  }
  // A new version always becomes $Latest: when $Latest differs from $Default, whatever launches
  // $Latest (a group, a fleet, a script) would launch $Default's data instead. A person decides.
  if (latestVersion.versionNumber !== defaultVersion.versionNumber) {
    return decision('blocked', `${what}; its $Latest (version ${latestVersion.versionNumber}) differs from $Default (version ${defaultVersion.versionNumber}): a new version would replace what $Latest launches, so a person decides`);
  }
  const hopOf = wanted(defaultVersion);
  const changes: TemplateChange[] = [{ sourceVersion: defaultVersion.versionNumber, hopLimit: hopOf.hopLimit, makeDefault: true }];

  const uses = launched.map((l) => ({ instanceId: l.facts.instanceId, use: launchedUse(l.facts, l.evidence, policy) }));
  const v1Users = uses
    .flatMap((u) => ('calls' in u.use && u.use.calls > 0 ? [{ instanceId: u.instanceId, calls: u.use.calls }] : []))
    .sort((a, b) => b.calls - a.calls || a.instanceId.localeCompare(b.instanceId));
  if (v1Users.length > 0) {
    const total = v1Users.reduce((n, u) => n + u.calls, 0);
    return {
      ...decision(
        'blocked-v1-in-use',
        `${what}; left as it is: ${v1Users.length} of its ${instances} instances use IMDSv1 (${total} calls over the last ${policy.lookbackDays} days, answered or rejected): ${list(v1Users.map((u) => `${u.instanceId} (${u.calls})`))}`,
      ),
      v1Users: v1Users.slice(0, TEMPLATE_V1_USERS_MAX),
    };
  }
  const unknown = uses.flatMap((u) => ('unknown' in u.use ? [`${u.instanceId}: ${u.use.unknown}`] : []));
  // A read that failed is an error, as for an instance: the next run reads again.
  if (uses.some((u) => 'unknown' in u.use && u.use.failed)) {
    return decision('error', `${what}; left as it is: the IMDSv1 evidence of its instances could not be read (${list(unknown, 2)})`);
  }
  if (unknown.length > 0) {
    return decision('insufficient-evidence', `${what}; left as it is: the IMDSv1 use of ${unknown.length} of its ${instances} instances is unknown (${list(unknown, 2)})`);
  }
  const hop = hopOf.why;
  if (instances === 0) {
    const groups = template.groups.map((g) => g.group);
    const others = context.otherVersions ?? 0;
    if (others > 0) {
      return decision('insufficient-evidence', `${what}; left as it is: its ${others} running instance${others === 1 ? ' was' : 's were'} launched from other versions, none from version ${defaultVersion.versionNumber}, the one a new version would copy, so their evidence does not vouch for it`);
    }
    if (groups.length > 0) {
      return decision('insufficient-evidence', `${what}; left as it is: used by Auto Scaling group ${list(groups)} with no running instance, so the IMDSv1 use of what it launches is unknown`);
    }
    if (policy.launchTemplates.unused === 'report') {
      return decision('insufficient-evidence', `${what}; no running instance was launched from it and no Auto Scaling group uses it, but EC2 Fleet, Batch, Karpenter or a script this tool cannot see may launch it; left as it is (launchTemplates.unused: report)`);
    }
    return decision(
      'fix',
      `${what}; no running instance was launched from it and no Auto Scaling group uses it, so nothing running depends on IMDSv1 through it: new default version with IMDSv2 required, ${hop} (launchTemplates.unused: fix)`,
      changes,
    );
  }
  return decision(
    'fix',
    `${what}; its ${instances} running instance${instances === 1 ? '' : 's'} made 0 IMDSv1 calls, answered or rejected, on at least ${policy.minObservedDays} observed days each: new default version with IMDSv2 required, ${hop}`,
    changes,
  );
};

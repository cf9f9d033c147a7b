// Launch templates, pure: whether a template still lets new instances open IMDSv1, and whether
// the evidence of the instances launched from it allows a new default version that requires
// IMDSv2. The same rules as for instances: unknown is never zero, minObservedDays, rejected
// calls count, and a hop limit is never lowered.
import type { Evidence, InstanceFacts } from './model.ts';
import { hopLimitFor, matchesTag, type Policy } from './policy.ts';

export const TEMPLATE_VERDICTS = ['compliant', 'fix', 'blocked-v1-in-use', 'insufficient-evidence', 'exempt', 'error'] as const;
export type TemplateVerdict = (typeof TEMPLATE_VERDICTS)[number];

/** How the text report and Slack name each verdict. */
export const TEMPLATE_LABELS: Record<TemplateVerdict, string> = {
  compliant: 'Compliant',
  fix: 'New default version requiring IMDSv2',
  'blocked-v1-in-use': 'Blocked (instances use IMDSv1)',
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
}

/** A version the fix creates: a copy of `sourceVersion`'s launch data with these metadata options. */
export interface TemplateChange {
  sourceVersion: number;
  hopLimit: number;
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

/** The hop limit a fixed version gets: the policy's for the template and its instances, never below the current one. */
export const wantedTemplateHopLimit = (
  policy: Policy,
  template: Pick<TemplateFacts, 'tags'>,
  version: TemplateVersionFacts,
  launched: InstanceFacts[],
): { hopLimit: number; why: string } => {
  const own = hopLimitFor(policy, { ...version.instanceTags, ...template.tags });
  const byInstance = launched.map((f) => hopLimitFor(policy, f.tags).hopLimit);
  const current = version.metadata.hopLimit ?? 1;
  const hopLimit = Math.max(own.hopLimit, current, ...byInstance);
  const why =
    hopLimit === current && current > own.hopLimit
      ? `hop limit ${current} kept (never lowered)`
      : hopLimit > own.hopLimit
        ? `hop limit ${hopLimit}, what the policy wants for the instances launched from it`
        : `hop limit ${hopLimit} by ${own.rule}`;
  return { hopLimit, why };
};

/** Does this version need a new copy: IMDSv1 allowed, or a hop limit below the wanted one? */
const needsFix = (version: TemplateVersionFacts, wanted: number): boolean =>
  version.metadata.httpEndpoint !== 'disabled' && (templateAllowsV1(version.metadata) || (version.metadata.hopLimit ?? 1) < wanted);

/** One launched instance's IMDSv1 use by the sweep's rules: calls, or why it is unknown. */
export const launchedUse = (
  facts: InstanceFacts,
  evidence: Evidence,
  policy: Pick<Policy, 'minObservedDays' | 'lookbackDays'>,
): { calls: number } | { unknown: string; failed?: true } => {
  if (facts.metadata.httpEndpoint === 'disabled') return { calls: 0 };
  if (evidence.rejected.status === 'failed') return { unknown: `its MetadataNoTokenRejected could not be read (${evidence.rejected.reason})`, failed: true };
  const rejected = evidence.rejected.status === 'read' ? evidence.rejected.value.calls : 0;
  // It requires tokens: its IMDSv1 attempts are the rejected ones, and it runs on IMDSv2 otherwise.
  if (facts.metadata.httpTokens === 'required') return { calls: rejected };
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
}

const list = (items: string[], max = 3) => `${items.slice(0, max).join(', ')}${items.length > max ? ` and ${items.length - max} more` : ''}`;

/**
 * The decision for one template, pure. `launched` are the running instances launched from it
 * (any version), each with the evidence observe read for it.
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
  const defaultBad = needsFix(defaultVersion, wanted(defaultVersion).hopLimit);
  const latestBad = latestUsed && needsFix(latestVersion, wanted(latestVersion).hopLimit);
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

  // A new version becomes $Latest: when $Latest differs from $Default it is copied again last, so
  // that whatever launches $Latest keeps its launch data (with IMDSv2 required).
  const changes: TemplateChange[] = [];
  if (defaultBad) changes.push({ sourceVersion: defaultVersion.versionNumber, hopLimit: wanted(defaultVersion).hopLimit, makeDefault: true });
  if (latestVersion.versionNumber !== defaultVersion.versionNumber && (defaultBad || latestBad)) {
    const keep = latestVersion.metadata.httpEndpoint === 'disabled' ? undefined : wanted(latestVersion).hopLimit;
    changes.push({ sourceVersion: latestVersion.versionNumber, hopLimit: keep ?? latestVersion.metadata.hopLimit ?? 1, makeDefault: false });
  }
  const what = [defaultBad ? describe(defaultVersion, '$Default') : '', latestBad ? `${describe(latestVersion, '$Latest')}, which a group uses` : '']
    .filter(Boolean)
    .join('; ');

  if (context.accountExemption) return decision('exempt', `${context.accountExemption}; ${what}`);
  const exemptTag = policy.exempt.tags.findIndex((m) => matchesTag(template.tags, m));
  if (exemptTag >= 0) return decision('exempt', `exempt by a tag of the template (exempt.tags[${exemptTag}]); ${what}`);
  if (template.managedBy) return decision('exempt', `managed by ${template.managedBy}: change it there; ${what}`);

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
  const hop = changes.map((c) => `hop limit ${c.hopLimit}`)[0] ?? '';
  if (instances === 0) {
    const groups = template.groups.map((g) => g.group);
    if (groups.length > 0) {
      return decision('insufficient-evidence', `${what}; left as it is: used by Auto Scaling group ${list(groups)} with no running instance, so the IMDSv1 use of what it launches is unknown`);
    }
    if (policy.launchTemplates.unused === 'report') {
      return decision('insufficient-evidence', `${what}; no running instance was launched from it and no Auto Scaling group uses it; left as it is (launchTemplates.unused: report)`);
    }
    return decision(
      'fix',
      `${what}; no running instance was launched from it and no Auto Scaling group uses it, so nothing running depends on IMDSv1 through it: new default version with IMDSv2 required, ${hop} (launchTemplates.unused: fix)`,
      changes,
    );
  }
  return decision(
    'fix',
    `${what}; its ${instances} running instance${instances === 1 ? '' : 's'} made 0 IMDSv1 calls on at least ${policy.minObservedDays} observed days each (or require IMDSv2 with no rejected call): new default version with IMDSv2 required, ${hop}`,
    changes,
  );
};

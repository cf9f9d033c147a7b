// Whether an account, an OU or a root is ready for prevention (an SCP or the EC2 declarative
// policy that keeps IMDSv1 from coming back), from the sweep's own results: pure, plain data in
// and out. The sweep's evidence rules hold here too: unknown is never zero, so an instance
// without evidence, an account-region that could not be read or an account that was not swept
// stands in the way like an instance that uses IMDSv1.
import type { InstanceResult, OrganizationTree, OrganizationUnit } from '../domain/model.ts';
import type { Verdict } from '../domain/verdicts.ts';

/** What stands in the way of prevention, for an instance, a template or a whole account. */
export type Blocker =
  | 'imdsv1-allowed'
  | 'v1-in-use'
  | 'reopened'
  | 'v1-rejected'
  | 'unknown-evidence'
  | 'exempt'
  | 'template-allows-v1'
  | 'hop-above-ceiling'
  | 'unreadable'
  | 'regions-not-swept'
  | 'not-swept';

export const BLOCKERS: Record<Blocker, string> = {
  'imdsv1-allowed': 'instances still allow IMDSv1 with no IMDSv1 call in the window (apply enforces them)',
  'v1-in-use': 'instances made IMDSv1 calls in the window',
  reopened: 'instances re-opened to IMDSv1 by hand after the tool enforced them',
  'v1-rejected': 'instances whose IMDSv1 calls are rejected since the enforcement (a workload is failing)',
  'unknown-evidence': 'instances without enough evidence (no or too few MetadataNoToken days, or a failed read): unknown is never zero',
  exempt: 'instances exempt by the policy: an SCP or a declarative policy would apply to them all the same',
  'template-allows-v1': 'launch templates still allow IMDSv1',
  'hop-above-ceiling': 'instances whose hop limit is above the SCP ceiling (their replacements could not be launched the same way)',
  unreadable: 'account-regions that could not be swept',
  'regions-not-swept': 'enabled regions outside the policy scope, never swept (an SCP and a declarative policy apply in every region; guardrails --all-regions reads them)',
  'not-swept': 'accounts outside the policy scope, never swept',
};

/**
 * The blocker each verdict is, for an instance the run did not change. An instance that requires
 * tokens (or has IMDS off) is ready unless its hop limit is above the SCP's ceiling (instanceBlocker).
 * A possible SSRF probe is ready too: IMDSv1 is closed on it and the tool never re-opens it.
 */
const BLOCKER_OF_VERDICT: Record<Verdict, Blocker | undefined> = {
  compliant: undefined,
  'fix-hop-limit': undefined,
  'hop-limit-above-policy': undefined,
  enforce: 'imdsv1-allowed',
  'raise-hop-limit': 'v1-in-use',
  'blocked-v1-in-use': 'v1-in-use',
  'reopened-after-enforcement': 'reopened',
  'v1-rejected': 'v1-rejected',
  'possible-ssrf-probe': undefined,
  'insufficient-evidence': 'unknown-evidence',
  exempt: 'exempt',
  gone: undefined,
  error: 'unknown-evidence',
};

/** What the readiness needs of an instance. */
export type InstanceFact = Pick<InstanceResult, 'verdict' | 'changed' | 'noTokenCalls' | 'hopLimit'>;

/**
 * Why this instance stands in the way of prevention after the run, or undefined when it does not.
 * `hopCeiling` is the SCP's hop-limit ceiling (domain/policy.ts hopLimitCeiling): an instance kept
 * above it runs, but a replacement launched the same way would be denied.
 */
export const instanceBlocker = (i: InstanceFact, hopCeiling: number): Blocker | undefined => {
  if (i.verdict === 'enforce') {
    // A forced enforcement can go ahead with IMDSv1 calls in the window, or without evidence:
    // the instance then requires tokens, but a workload on it is failing, or may be.
    if (i.noTokenCalls === null) return 'unknown-evidence';
    if (i.noTokenCalls > 0) return 'v1-in-use';
    // An enforcement this run made leaves the instance requiring tokens.
    if (!i.changed) return 'imdsv1-allowed';
  } else {
    const blocker = BLOCKER_OF_VERDICT[i.verdict];
    if (blocker || i.verdict === 'gone') return blocker;
  }
  return i.hopLimit > hopCeiling ? 'hop-above-ceiling' : undefined;
};

/** A launch template as the readiness needs it (the templates work reports more). */
export interface TemplateFact {
  accountId: string;
  region: string;
  launchTemplateId: string;
  launchTemplateName: string;
  allowsV1: boolean;
}

/** The worst offenders an account names (the counts count them all). */
export const WORST_MAX = 5;

export interface Offender {
  region: string;
  /** An instance id or a launch template id. */
  id: string;
  /** A launch template's name. */
  name?: string | undefined;
  blocker: Blocker;
  /** IMDSv1 calls in the window, for `v1-in-use`; null when unknown. */
  noTokenCalls: number | null;
}

export interface AccountReadiness {
  accountId: string;
  name: string;
  parentId: string;
  ready: boolean;
  /** Instances the sweep looked at (gone ones aside). */
  instances: number;
  /** How many instances, templates or account-regions stand in the way, by blocker. */
  blockers: Partial<Record<Blocker, number>>;
  /** IMDSv1 calls of the `v1-in-use` instances over the window. */
  v1Calls: number;
  /** The heaviest IMDSv1 users first, then the others; at most WORST_MAX. */
  worst: Offender[];
  /** Enabled regions never swept (`regions-not-swept`); undefined when unknown. */
  unsweptRegions?: string[] | undefined;
}

export interface UnitReadiness {
  id: string;
  name: string;
  /** Root/OU/OU names from the root, for people. */
  path: string;
  parentId: string | null;
  /** ACTIVE accounts below it, at any depth, in scope or not. */
  accounts: number;
  readyAccounts: number;
  ready: boolean;
}

/** What a sweep's plan knows of the organization, for the readiness per OU of its report. */
export interface SweepOrganization {
  tree: OrganizationTree;
  /** Account-regions planned for each account in scope; 0 for one that could not be reached. */
  plannedShards: Record<string, number>;
  /**
   * Regions enabled in each account in scope but outside the policy's scope.regions, so never
   * swept (at most UNSWEPT_REGIONS_MAX each). Left out for an account that could not be reached,
   * and altogether in an organization file written before it existed: unknown, so not ready.
   */
  unsweptRegions?: Record<string, string[]> | undefined;
}

/** The unswept regions an account names: more than AWS has today, so a bound, never a cut in practice. */
export const UNSWEPT_REGIONS_MAX = 64;

export interface SweptAccount {
  accountId: string;
  /** Account-regions planned; 0 when the account could not be reached or has no region in scope. */
  plannedShards: number;
  /** Account-regions that answered without a shard-level error. */
  sweptShards: number;
  /** Enabled regions the sweep left out (outside scope.regions); undefined when unknown. */
  unsweptRegions: string[] | undefined;
}

export interface ReadinessInput {
  tree: OrganizationTree;
  /** Every account the sweep planned or tried to; the tree's other accounts are `not-swept`. */
  swept: SweptAccount[];
  instances: InstanceResult[];
  templates: TemplateFact[];
  /** The SCP's hop-limit ceiling (domain/policy.ts hopLimitCeiling). */
  hopCeiling: number;
}

const add = (blockers: Partial<Record<Blocker, number>>, blocker: Blocker, n = 1) => {
  blockers[blocker] = (blockers[blocker] ?? 0) + n;
};

const groupByAccount = <T extends { accountId: string }>(items: T[]): Map<string, T[]> => {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(item.accountId);
    if (group) group.push(item);
    else groups.set(item.accountId, [item]);
  }
  return groups;
};

const byWorst = (a: Offender, b: Offender) =>
  (b.blocker === 'v1-in-use' ? 1 : 0) - (a.blocker === 'v1-in-use' ? 1 : 0) ||
  (b.noTokenCalls ?? 0) - (a.noTokenCalls ?? 0) ||
  a.id.localeCompare(b.id);

/** Each account of the tree: ready, or what stands in the way, with its worst offenders. */
export const accountReadiness = ({ tree, swept, instances, templates, hopCeiling }: ReadinessInput): AccountReadiness[] => {
  const sweptById = new Map(swept.map((s) => [s.accountId, s]));
  const instancesOf = groupByAccount(instances);
  const templatesOf = groupByAccount(templates);
  return tree.accounts.map((account) => {
    const blockers: Partial<Record<Blocker, number>> = {};
    const offenders: Offender[] = [];
    const sweep = sweptById.get(account.id);
    if (!sweep) add(blockers, 'not-swept');
    // An account with no region swept has nothing to show for it: unknown, so not ready.
    else if (sweep.plannedShards === 0 || sweep.sweptShards < sweep.plannedShards) add(blockers, 'unreadable', Math.max(sweep.plannedShards - sweep.sweptShards, 1));
    // A guardrail applies in every region: one the sweep never looked at (or may not have) is unknown.
    if (sweep && (sweep.unsweptRegions === undefined || sweep.unsweptRegions.length > 0)) add(blockers, 'regions-not-swept', Math.max(sweep.unsweptRegions?.length ?? 0, 1));
    let counted = 0;
    let v1Calls = 0;
    for (const i of instancesOf.get(account.id) ?? []) {
      if (i.verdict !== 'gone') counted += 1;
      const blocker = instanceBlocker(i, hopCeiling);
      if (!blocker) continue;
      add(blockers, blocker);
      if (blocker === 'v1-in-use') v1Calls += i.noTokenCalls ?? 0;
      offenders.push({ region: i.region, id: i.instanceId, blocker, noTokenCalls: i.noTokenCalls });
    }
    for (const t of templatesOf.get(account.id) ?? []) {
      if (!t.allowsV1) continue;
      add(blockers, 'template-allows-v1');
      offenders.push({ region: t.region, id: t.launchTemplateId, name: t.launchTemplateName, blocker: 'template-allows-v1', noTokenCalls: null });
    }
    return {
      accountId: account.id,
      name: account.name,
      parentId: account.parentId,
      ready: Object.keys(blockers).length === 0,
      instances: counted,
      blockers,
      v1Calls,
      worst: offenders.sort(byWorst).slice(0, WORST_MAX),
      ...(sweep ? { unsweptRegions: sweep.unsweptRegions?.slice(0, UNSWEPT_REGIONS_MAX) } : {}),
    };
  });
};

/**
 * Each root and OU with an account below it: ready when every ACTIVE account below it, at any
 * depth, is ready. An account outside the sweep's scope counts as not ready, since a policy
 * attached above it would apply to it without evidence. Parents come before their children.
 */
export const unitReadiness = (tree: OrganizationTree, isReady: (accountId: string) => boolean): UnitReadiness[] => {
  const byId = new Map(tree.units.map((u) => [u.id, u]));
  const counts = new Map<string, { accounts: number; ready: number }>();
  for (const account of tree.accounts) {
    const ready = isReady(account.id);
    const seen = new Set<string>();
    // Up the tree to the root; `seen` ends a malformed tree's cycle.
    for (let unit = byId.get(account.parentId); unit && !seen.has(unit.id); unit = unit.parentId ? byId.get(unit.parentId) : undefined) {
      seen.add(unit.id);
      const c = counts.get(unit.id) ?? { accounts: 0, ready: 0 };
      c.accounts += 1;
      if (ready) c.ready += 1;
      counts.set(unit.id, c);
    }
  }
  const pathOf = (unit: OrganizationUnit): string => {
    const names: string[] = [];
    const seen = new Set<string>();
    for (let u: OrganizationUnit | undefined = unit; u && !seen.has(u.id); u = u.parentId ? byId.get(u.parentId) : undefined) {
      seen.add(u.id);
      names.unshift(u.name);
    }
    return names.join('/');
  };
  return tree.units
    .filter((u) => (counts.get(u.id)?.accounts ?? 0) > 0)
    .map((u) => {
      const c = counts.get(u.id) ?? { accounts: 0, ready: 0 };
      return { id: u.id, name: u.name, path: pathOf(u), parentId: u.parentId, accounts: c.accounts, readyAccounts: c.ready, ready: c.ready === c.accounts };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
};

/**
 * Where to attach the guardrails: the highest ready roots and OUs (a ready OU below a ready one
 * is covered by it), then each ready account whose OU is not ready. Never the management account,
 * which SCPs do not restrict.
 */
export const attachTargets = (
  units: UnitReadiness[],
  accounts: AccountReadiness[],
  managementAccountId: string | undefined,
): Array<{ id: string; name: string; kind: 'root' | 'ou' | 'account' }> => {
  const readyUnits = new Set(units.filter((u) => u.ready).map((u) => u.id));
  const topUnits = units
    .filter((u) => u.ready && !(u.parentId && readyUnits.has(u.parentId)))
    .map((u) => ({ id: u.id, name: u.path, kind: u.parentId === null ? ('root' as const) : ('ou' as const) }));
  const loneAccounts = accounts
    .filter((a) => a.ready && !readyUnits.has(a.parentId) && a.accountId !== managementAccountId)
    .map((a) => ({ id: a.accountId, name: a.name, kind: 'account' as const }));
  return [...topUnits, ...loneAccounts];
};

// The one report: every run (the CLI's sweep, an event, the deployed Step Functions sweep)
// digests its shards and sums the digests here, so that the CLI's output, the deployed
// report and every Slack summary count the same things the same way.
import type { InstanceResult, ScopeError, Shard } from '../domain/model.ts';
import { VERDICTS, type Verdict } from '../domain/verdicts.ts';
import { TEMPLATE_VERDICTS, type LaunchConfigurationResult, type TemplateResult, type TemplateVerdict } from '../domain/templates.ts';
import type { FindingFailure } from '../findings/record.ts';
import type { NotificationOutcome } from '../notify/outcome.ts';
import { unitReadiness, type SweepOrganization, type UnitReadiness } from '../guardrails/readiness.ts';
import {
  byCallsDescending,
  cut,
  DIGEST_BLOCKED_MAX,
  DIGEST_ERRORS_MAX,
  DIGEST_FINDING_FAILURES_MAX,
  type BlockedInstance,
  type PlanSummary,
  type ShardDigest,
  type TemplatesDigest,
} from './digest.ts';

/**
 * Errors listed in the sweep's report (the report Lambda's result crosses the 256 KiB state);
 * the summary counts them all, and each is logged by the function that met it.
 */
export const REPORT_ERRORS_MAX = 100;
/** More than a Slack section shows: the summary needs only the heaviest. */
const OVERVIEW_BLOCKED_MAX = 200;
/** Roots and OUs listed in a report's readiness (the report crosses the 256 KiB state); `unitCount` counts them all. */
export const REPORT_UNITS_MAX = 100;

export interface SweepSummary {
  byVerdict: Record<Verdict, number>;
  /** Every instance looked at. */
  instances: number;
  changed: number;
  /** Enforce or fix-hop-limit, not changed by this run. */
  toChange: number;
  /** Account-regions not swept, shard-level failures, and instances whose verdict is `error`. */
  errors: number;
  /** Findings Security Hub did not take. */
  findingsFailed: number;
  accounts: number;
  shards: number;
  /** Launch templates, counted like the instances (every aggregated summary has it). */
  templates?: TemplatesSummary | undefined;
}

export interface TemplatesSummary {
  byVerdict: Record<TemplateVerdict, number>;
  /** Every template looked at. */
  templates: number;
  changed: number;
  /** Still allowing IMDSv1 through $Default (or a $Latest a group uses) after this run. */
  allowingV1: number;
  pinnedGroups: number;
  launchConfigurations: number;
}

export interface FindingsSummary {
  enabled: boolean;
  imported: number;
  /** PASSED findings already in Security Hub with the same state: not imported again. */
  unchanged: number;
  /** The failures the digests name; `summary.findingsFailed` counts them all. */
  failed: FindingFailure[];
}

/** How far the organization is from prevention: accounts and OUs ready for the guardrails. */
export interface ReadinessSummary {
  /** Accounts in the sweep's scope, and how many of them are ready. */
  accounts: number;
  readyAccounts: number;
  /** Roots and OUs with an account below them, by path; at most REPORT_UNITS_MAX. */
  units: UnitReadiness[];
  unitCount: number;
}

export interface SweepReport {
  mode: 'plan' | 'apply';
  summary: SweepSummary;
  /** Readiness for prevention per root and OU; left out when the organization's tree was not read. */
  readiness?: ReadinessSummary | undefined;
  /** Every instance's result where the run kept them (the CLI, an event); empty for the deployed sweep. */
  instances: InstanceResult[];
  /** Every launch template's result where the run kept them (the CLI); empty for the deployed sweep and events. */
  templates: TemplateResult[];
  /** Launch configurations that allow IMDSv1, where the run kept them (the CLI). */
  launchConfigurations: LaunchConfigurationResult[];
  errors: ScopeError[];
  findings: FindingsSummary;
  /** `slack`: the run summary (for an event, its messages); `alerts`: the rollback watch's alerts. */
  notifications?: { slack: NotificationOutcome; alerts?: NotificationOutcome };
}

/** What the Slack summary says beyond the totals. */
export interface SweepOverview {
  /** The heaviest IMDSv1 users first (the heaviest of each shard); `summary.byVerdict` counts them all. */
  blocked: BlockedInstance[];
  nonCompliantByAccount: Map<string, number>;
}

/** A shard that failed as a whole in the Map (its function crashed or timed out). */
export interface FailedShard {
  shard: Shard | undefined;
  message: string;
}

const bounded = (errors: ScopeError[]): ScopeError[] =>
  errors.length <= REPORT_ERRORS_MAX
    ? errors
    : [
        ...errors.slice(0, REPORT_ERRORS_MAX - 1),
        {
          accountId: 'unknown',
          region: null,
          message: `…and ${errors.length - REPORT_ERRORS_MAX + 1} more errors: see the sweep-shard and sweep-report logs`,
        },
      ];

const sum = (digests: ShardDigest[], count: (d: ShardDigest) => number) => digests.reduce((n, d) => n + count(d), 0);

/**
 * One digest of an account-region swept in pieces (a deployed shard continued across
 * invocations), from the digests of its pieces. Each instance is in exactly one piece, so the
 * counts add up; the named errors, blocked instances and finding failures keep the digest's bounds.
 */
const addTemplates = (a: TemplatesDigest | undefined, b: TemplatesDigest | undefined): TemplatesDigest | undefined => {
  if (!a || !b) return a ?? b;
  const byVerdict: TemplatesDigest['byVerdict'] = { ...a.byVerdict };
  for (const v of TEMPLATE_VERDICTS) if (b.byVerdict[v] !== undefined) byVerdict[v] = (byVerdict[v] ?? 0) + (b.byVerdict[v] ?? 0);
  return {
    byVerdict,
    changed: a.changed + b.changed,
    allowingV1: a.allowingV1 + b.allowingV1,
    pinnedGroups: a.pinnedGroups + b.pinnedGroups,
    launchConfigurations: a.launchConfigurations + b.launchConfigurations,
  };
};

export const addDigests = (a: ShardDigest, b: ShardDigest): ShardDigest => {
  const byVerdict: ShardDigest['byVerdict'] = { ...a.byVerdict };
  for (const v of VERDICTS) if (b.byVerdict[v] !== undefined) byVerdict[v] = (byVerdict[v] ?? 0) + (b.byVerdict[v] ?? 0);
  const findings =
    a.findings && b.findings
      ? {
          imported: a.findings.imported + b.findings.imported,
          unchanged: a.findings.unchanged + b.findings.unchanged,
          failedCount: a.findings.failedCount + b.findings.failedCount,
          failed: [...a.findings.failed, ...b.findings.failed].slice(0, DIGEST_FINDING_FAILURES_MAX),
        }
      : (a.findings ?? b.findings);
  return {
    shard: a.shard,
    byVerdict,
    changed: a.changed + b.changed,
    errorCount: a.errorCount + b.errorCount,
    errors: [...a.errors, ...b.errors].slice(0, DIGEST_ERRORS_MAX),
    toChange: a.toChange + b.toChange,
    nonCompliant: a.nonCompliant + b.nonCompliant,
    // A piece that did not say makes the whole account-region unknown.
    notReady: a.notReady === undefined || b.notReady === undefined ? undefined : a.notReady + b.notReady,
    blocked: [...a.blocked, ...b.blocked].sort(byCallsDescending).slice(0, DIGEST_BLOCKED_MAX),
    findings,
    templates: addTemplates(a.templates, b.templates),
  };
};

export interface AggregateInput {
  mode: SweepReport['mode'];
  plan: PlanSummary;
  digests: ShardDigest[];
  /** Shards that failed, timed out or never ran (the deployed Map). */
  failed?: FailedShard[];
  findingsEnabled: boolean;
  /** The plan's view of the organization; with it the report gains the readiness per OU. */
  organization?: SweepOrganization | undefined;
}

/**
 * An account is ready when every account-region planned for it reported, without an error, no
 * instance standing in the way and no launch template allowing IMDSv1, and no region enabled in
 * it was left out of the sweep; anything missing or unknown leaves it not ready. The pieces of one
 * shard are summed before they get here (addDigests), so the account-regions are counted distinct:
 * one reported twice does not stand for one never reported.
 */
const readinessOf = (organization: SweepOrganization, digests: ShardDigest[], failed: FailedShard[]): ReadinessSummary => {
  const reported = new Map<string, { regions: Set<string>; clean: boolean }>();
  for (const d of digests) {
    const r = reported.get(d.shard.accountId) ?? { regions: new Set<string>(), clean: true };
    r.regions.add(d.shard.region);
    // A launch template left allowing IMDSv1 brings v1 back with the next launch: not ready either.
    r.clean &&= d.notReady === 0 && d.errorCount === 0 && (d.templates?.allowingV1 ?? 0) === 0;
    reported.set(d.shard.accountId, r);
  }
  const failedAccounts = new Set(failed.map((f) => f.shard?.accountId));
  const unswept = organization.unsweptRegions;
  const ready = new Set(
    Object.entries(organization.plannedShards)
      .filter(([accountId, planned]) => {
        const r = reported.get(accountId);
        // An organization file without unsweptRegions (an older plan) leaves every account unknown.
        const allRegionsSwept = unswept?.[accountId]?.length === 0;
        return planned > 0 && r !== undefined && r.clean && r.regions.size >= planned && !failedAccounts.has(accountId) && allRegionsSwept;
      })
      .map(([accountId]) => accountId),
  );
  const units = unitReadiness(organization.tree, (accountId) => ready.has(accountId));
  return {
    accounts: Object.keys(organization.plannedShards).length,
    readyAccounts: ready.size,
    units: units.slice(0, REPORT_UNITS_MAX),
    unitCount: units.length,
  };
};

/** The report and the overview of a run, from its shards' digests. */
export const aggregate = ({ mode, plan, digests, failed = [], findingsEnabled, organization }: AggregateInput): { report: SweepReport; overview: SweepOverview } => {
  const byVerdict = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const d of digests) for (const v of VERDICTS) byVerdict[v] += d.byVerdict[v] ?? 0;
  const failedErrors = failed.map((f) => ({ accountId: f.shard?.accountId ?? 'unknown', region: f.shard?.region ?? null, message: cut(f.message) }));
  // Shards the Map never reported on (beyond the tolerated failures) are errors too.
  const missing = Math.max(plan.shards - digests.length - failed.length, 0);
  const missingErrors = missing > 0 ? [{ accountId: 'unknown', region: null, message: `${missing} shard(s) returned no result` }] : [];
  const shardErrors = sum(digests, (d) => d.errorCount - (d.byVerdict.error ?? 0));
  const findingsFailed = sum(digests, (d) => d.findings?.failedCount ?? 0);

  const nonCompliantByAccount = new Map<string, number>();
  for (const d of digests) {
    if (d.nonCompliant > 0) nonCompliantByAccount.set(d.shard.accountId, (nonCompliantByAccount.get(d.shard.accountId) ?? 0) + d.nonCompliant);
  }
  const overview: SweepOverview = {
    blocked: digests
      .flatMap((d) => d.blocked.map((b) => ({ accountId: d.shard.accountId, region: d.shard.region, ...b })))
      .sort(byCallsDescending)
      .slice(0, OVERVIEW_BLOCKED_MAX),
    nonCompliantByAccount,
  };

  const templateVerdicts = Object.fromEntries(TEMPLATE_VERDICTS.map((v) => [v, 0])) as Record<TemplateVerdict, number>;
  for (const d of digests) for (const v of TEMPLATE_VERDICTS) templateVerdicts[v] += d.templates?.byVerdict[v] ?? 0;
  const templates: TemplatesSummary = {
    byVerdict: templateVerdicts,
    templates: Object.values(templateVerdicts).reduce((n, v) => n + v, 0),
    changed: sum(digests, (d) => d.templates?.changed ?? 0),
    allowingV1: sum(digests, (d) => d.templates?.allowingV1 ?? 0),
    pinnedGroups: sum(digests, (d) => d.templates?.pinnedGroups ?? 0),
    launchConfigurations: sum(digests, (d) => d.templates?.launchConfigurations ?? 0),
  };

  const report: SweepReport = {
    mode,
    summary: {
      byVerdict,
      instances: sum(digests, (d) => Object.values(d.byVerdict).reduce((n, v) => n + (v ?? 0), 0)),
      changed: sum(digests, (d) => d.changed),
      toChange: sum(digests, (d) => d.toChange),
      errors: plan.errorCount + shardErrors + byVerdict.error + templateVerdicts.error + failed.length + missing,
      findingsFailed,
      accounts: plan.accounts,
      shards: plan.shards,
      templates,
    },
    ...(organization ? { readiness: readinessOf(organization, digests, failed) } : {}),
    instances: [],
    templates: [],
    launchConfigurations: [],
    // Whole account-regions left unswept come first: the bound must never hide them behind instance errors.
    errors: bounded([...plan.errors, ...failedErrors, ...missingErrors, ...digests.flatMap((d) => d.errors)]),
    findings: {
      enabled: findingsEnabled,
      imported: sum(digests, (d) => d.findings?.imported ?? 0),
      unchanged: sum(digests, (d) => d.findings?.unchanged ?? 0),
      failed: digests.flatMap((d) => d.findings?.failed ?? []).slice(0, REPORT_ERRORS_MAX),
    },
  };
  return { report, overview };
};

/** A run that failed as a whole: something went wrong, and the report must say so. */
export const hasFailures = (report: SweepReport): boolean => report.summary.errors > 0 || report.summary.findingsFailed > 0;

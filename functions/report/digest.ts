// What one shard hands back through the Step Functions state: counts, not instances.
// Each digest has a bounded size; the per-instance detail is in the shard's decision logs
// (and its Security Hub findings). The CLI and an event digest their shards the same way,
// so that every report is summed by one aggregator.
import type { InstanceResult, ScopeError, Shard } from '../domain/model.ts';
import { isNonCompliant, isToChange } from '../domain/model.ts';
import type { Verdict } from '../domain/verdicts.ts';
import type { TemplateResult, TemplateVerdict } from '../domain/templates.ts';
import type { FindingFailure } from '../findings/record.ts';
import type { ShardResult } from '../pipeline/run.ts';
import { instanceBlocker } from '../guardrails/readiness.ts';

export const DIGEST_ERRORS_MAX = 1;
/** Plan errors (unreachable accounts) kept in the state; the rest are counted. */
export const PLAN_ERRORS_MAX = 20;
export const DIGEST_MESSAGE_MAX = 200;
/** The heaviest IMDSv1 users a digest names (byVerdict counts them all), for the Slack summary. */
export const DIGEST_BLOCKED_MAX = 20;
/** Findings Security Hub rejected that a digest names; `failedCount` counts them all. */
export const DIGEST_FINDING_FAILURES_MAX = 5;

export interface BlockedInstance {
  accountId: string;
  region: string;
  instanceId: string;
  noTokenCalls: number;
}

/** What the findings step did in one shard. */
export interface FindingsDigest {
  imported: number;
  unchanged: number;
  failedCount: number;
  /** The first DIGEST_FINDING_FAILURES_MAX failures. */
  failed: FindingFailure[];
}

/** What the launch-template step found in one shard: counts only. */
export interface TemplatesDigest {
  byVerdict: Partial<Record<TemplateVerdict, number>>;
  /** Templates given a new default version (or $Latest) this run. */
  changed: number;
  /** Templates whose $Default (or a $Latest a group uses) still allows IMDSv1 after this run. */
  allowingV1: number;
  /** Auto Scaling groups that pin a version allowing IMDSv1. */
  pinnedGroups: number;
  /** Launch configurations that allow IMDSv1 (they cannot change: their groups must move). */
  launchConfigurations: number;
}

export interface ShardDigest {
  shard: Shard;
  byVerdict: Partial<Record<Verdict, number>>;
  changed: number;
  /** Shard-level errors plus instances whose verdict is `error`. */
  errorCount: number;
  /** The first DIGEST_ERRORS_MAX errors, messages cut to DIGEST_MESSAGE_MAX characters. */
  errors: ScopeError[];
  /** Enforce or fix-hop-limit, not changed by this run. */
  toChange: number;
  /** Still allowing IMDSv1, or with the wrong hop limit, after this run. */
  nonCompliant: number;
  /**
   * Instances that stand in the way of prevention after this run (guardrails/readiness.ts);
   * undefined in a digest from a shard function deployed before it existed, which reads as unknown.
   */
  notReady?: number | undefined;
  /** The shard's DIGEST_BLOCKED_MAX heaviest IMDSv1 users. */
  blocked: Array<{ instanceId: string; noTokenCalls: number }>;
  /** Undefined when findings were not recorded in this shard. */
  findings?: FindingsDigest | undefined;
  /** Undefined when this part of the shard did not look at launch templates. */
  templates?: TemplatesDigest | undefined;
}

/** What the plan step leaves in the state for the report step. */
export interface PlanSummary {
  accounts: number;
  shards: number;
  /** The first PLAN_ERRORS_MAX errors; `errorCount` counts them all. */
  errors: ScopeError[];
  errorCount: number;
  /**
   * The deployed plan's organization (its tree and the account-regions planned per account) in
   * the sweep bucket, for the report's readiness per OU: a key, so that the state stays small.
   */
  organizationKey?: string | undefined;
}

export const cut = (text: string) => (text.length > DIGEST_MESSAGE_MAX ? `${text.slice(0, DIGEST_MESSAGE_MAX - 1)}…` : text);
const cutErrors = (errors: ScopeError[], max: number) => errors.slice(0, max).map((e) => ({ ...e, message: cut(e.message) }));

export const summarizePlan = (plan: { accounts: number; shards: unknown[]; errors: ScopeError[] }): PlanSummary => ({
  accounts: plan.accounts,
  shards: plan.shards.length,
  errors: cutErrors(plan.errors, PLAN_ERRORS_MAX),
  errorCount: plan.errors.length,
});

export const byCallsDescending = (a: { instanceId: string; noTokenCalls: number }, b: { instanceId: string; noTokenCalls: number }) =>
  b.noTokenCalls - a.noTokenCalls || a.instanceId.localeCompare(b.instanceId);

const heaviestV1Users = (instances: InstanceResult[]) =>
  instances
    .filter((i) => i.verdict === 'blocked-v1-in-use')
    .map((i) => ({ instanceId: i.instanceId, noTokenCalls: i.noTokenCalls ?? 0 }))
    .sort(byCallsDescending)
    .slice(0, DIGEST_BLOCKED_MAX);

export const digestTemplates = (templates: TemplateResult[], launchConfigurations: number): TemplatesDigest => {
  const byVerdict: Partial<Record<TemplateVerdict, number>> = {};
  for (const t of templates) byVerdict[t.verdict] = (byVerdict[t.verdict] ?? 0) + 1;
  return {
    byVerdict,
    changed: templates.filter((t) => t.changed).length,
    allowingV1: templates.filter((t) => t.allowsV1).length,
    pinnedGroups: templates.reduce((n, t) => n + t.pinned.length, 0),
    launchConfigurations,
  };
};

/** `hopCeiling`: the SCP's hop-limit ceiling (domain/policy.ts hopLimitCeiling), for `notReady`. */
export const digestShard = (result: ShardResult, { hopCeiling }: { hopCeiling: number }): ShardDigest => {
  const byVerdict: Partial<Record<Verdict, number>> = {};
  for (const i of result.instances) byVerdict[i.verdict] = (byVerdict[i.verdict] ?? 0) + 1;
  const instanceErrors = result.instances
    .filter((i) => i.verdict === 'error')
    .map((i) => ({ accountId: i.accountId, region: i.region, message: `${i.instanceId}: ${i.reason}` }));
  const all = [...result.errors, ...instanceErrors];
  const findings = result.findings;
  return {
    shard: result.shard,
    byVerdict,
    changed: result.instances.filter((i) => i.changed).length,
    errorCount: all.length,
    errors: cutErrors(all, DIGEST_ERRORS_MAX),
    toChange: result.instances.filter(isToChange).length,
    nonCompliant: result.instances.filter(isNonCompliant).length,
    notReady: result.instances.filter((i) => instanceBlocker(i, hopCeiling) !== undefined).length,
    blocked: heaviestV1Users(result.instances),
    findings: findings && {
      imported: findings.imported,
      unchanged: findings.unchanged,
      failedCount: findings.failed.length,
      failed: findings.failed.slice(0, DIGEST_FINDING_FAILURES_MAX).map((f) => ({ ...f, message: cut(f.message) })),
    },
    templates: result.templates && digestTemplates(result.templates, result.launchConfigurations?.length ?? 0),
  };
};

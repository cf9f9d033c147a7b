// What one shard hands back through the Step Functions state: counts, not instances.
// The state payload is capped at 256 KiB, so each digest has a bounded size; the
// per-instance detail is in the shard's decision logs (and its Security Hub findings).
import type { ScopeError, Shard, ShardResult, SweepReport, Verdict } from '../domain/model.ts';
import { VERDICTS } from '../domain/model.ts';
import { byCallsDescending, overviewOfInstances, type SweepOverview } from '../notify/slack-message.ts';

export const DIGEST_ERRORS_MAX = 1;
/** Plan errors (unreachable accounts) kept in the state; the rest are counted. */
export const PLAN_ERRORS_MAX = 20;
export const DIGEST_MESSAGE_MAX = 200;
/** The heaviest IMDSv1 users a digest names (byVerdict counts them all), for the Slack summary. */
export const DIGEST_BLOCKED_MAX = 20;
/** More than a Slack section shows: the summary needs only the heaviest. */
const OVERVIEW_BLOCKED_MAX = 200;
/**
 * Errors listed in the sweep's report (the report Lambda's result crosses the 256 KiB state);
 * the summary counts them all, and each is logged by the function that met it.
 */
export const REPORT_ERRORS_MAX = 100;

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
  /** The shard's DIGEST_BLOCKED_MAX heaviest IMDSv1 users. */
  blocked: Array<{ instanceId: string; noTokenCalls: number }>;
}

/** What the plan step leaves in the state for the report step. */
export interface PlanSummary {
  accounts: number;
  shards: number;
  /** The first PLAN_ERRORS_MAX errors; `errorCount` counts them all. */
  errors: ScopeError[];
  errorCount: number;
}

const cut = (text: string) => (text.length > DIGEST_MESSAGE_MAX ? `${text.slice(0, DIGEST_MESSAGE_MAX - 1)}…` : text);
const cutErrors = (errors: ScopeError[], max: number) => errors.slice(0, max).map((e) => ({ ...e, message: cut(e.message) }));

export const summarizePlan = (plan: { accounts: number; shards: unknown[]; errors: ScopeError[] }): PlanSummary => ({
  accounts: plan.accounts,
  shards: plan.shards.length,
  errors: cutErrors(plan.errors, PLAN_ERRORS_MAX),
  errorCount: plan.errors.length,
});

export const digestShard = (result: ShardResult): ShardDigest => {
  const overview = overviewOfInstances(result.instances);
  const byVerdict: Partial<Record<Verdict, number>> = {};
  for (const i of result.instances) byVerdict[i.verdict] = (byVerdict[i.verdict] ?? 0) + 1;
  const instanceErrors = result.instances
    .filter((i) => i.verdict === 'error')
    .map((i) => ({ accountId: i.accountId, region: i.region, message: `${i.instanceId}: ${i.reason}` }));
  const all = [...result.errors, ...instanceErrors];
  return {
    shard: result.shard,
    byVerdict,
    changed: result.instances.filter((i) => i.changed).length,
    errorCount: all.length,
    errors: cutErrors(all, DIGEST_ERRORS_MAX),
    toChange: overview.toChange,
    nonCompliant: overview.nonCompliantByAccount.get(result.shard.accountId) ?? 0,
    blocked: overview.blocked.slice(0, DIGEST_BLOCKED_MAX).map(({ instanceId, noTokenCalls }) => ({ instanceId, noTokenCalls })),
  };
};

/** The summary's overview from the digests: totals exact, the blocked list the heaviest of each shard. */
export const overviewOfDigests = (digests: ShardDigest[]): SweepOverview => {
  const nonCompliantByAccount = new Map<string, number>();
  for (const d of digests) {
    if (d.nonCompliant > 0) nonCompliantByAccount.set(d.shard.accountId, (nonCompliantByAccount.get(d.shard.accountId) ?? 0) + d.nonCompliant);
  }
  const sum = (count: (d: ShardDigest) => number) => digests.reduce((n, d) => n + count(d), 0);
  return {
    instances: sum((d) => Object.values(d.byVerdict).reduce((n, v) => n + (v ?? 0), 0)),
    toChange: sum((d) => d.toChange),
    blocked: digests
      .flatMap((d) => d.blocked.map((b) => ({ accountId: d.shard.accountId, region: d.shard.region, ...b })))
      .sort(byCallsDescending)
      .slice(0, OVERVIEW_BLOCKED_MAX),
    blockedCount: sum((d) => d.byVerdict['blocked-v1-in-use'] ?? 0),
    nonCompliantByAccount,
    // An instance's error is among its digest's errors, and so among the report's.
    instanceErrors: [],
  };
};

/** A shard that failed as a whole in the Map (its function crashed or timed out). */
export interface FailedShard {
  shard: Shard | undefined;
  message: string;
}

/**
 * The sweep's report from the digests: the same summary as the CLI's report. `instances`
 * is empty (the detail stays in the shards' logs); `errors` holds what the digests kept.
 */
export const reportFromDigests = (
  mode: SweepReport['mode'],
  plan: PlanSummary,
  digests: ShardDigest[],
  failed: FailedShard[],
): SweepReport => {
  const byVerdict = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as SweepReport['summary']['byVerdict'];
  for (const d of digests) for (const v of VERDICTS) byVerdict[v] += d.byVerdict[v] ?? 0;
  const failedErrors = failed.map((f) => ({ accountId: f.shard?.accountId ?? 'unknown', region: f.shard?.region ?? null, message: cut(f.message) }));
  // Shards the Map never reported on (beyond the tolerated failures) are errors too.
  const missing = plan.shards - digests.length - failed.length;
  const missingErrors = missing > 0 ? [{ accountId: 'unknown', region: null, message: `${missing} shard(s) returned no result` }] : [];
  const shardErrors = digests.reduce((n, d) => n + d.errorCount - (d.byVerdict.error ?? 0), 0);
  return {
    mode,
    summary: {
      byVerdict,
      changed: digests.reduce((n, d) => n + d.changed, 0),
      errors: plan.errorCount + shardErrors + byVerdict.error + failed.length + Math.max(missing, 0),
      accounts: plan.accounts,
      shards: plan.shards,
    },
    instances: [],
    // Whole account-regions left unswept come first: the bound must never hide them behind instance errors.
    errors: bounded([...plan.errors, ...failedErrors, ...missingErrors, ...digests.flatMap((d) => d.errors)]),
  };
};

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

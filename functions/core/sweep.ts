import pLimit from 'p-limit';
import type { Log, ShardPorts, World } from '../ports.ts';
import { decide, needsEvidence } from './decide.ts';
import { describeError } from './errors.ts';
import type {
  Decision,
  Evidence,
  InstanceFacts,
  InstanceResult,
  ScopeError,
  Shard,
  ShardResult,
  SweepReport,
} from './model.ts';
import { VERDICTS } from './model.ts';
import type { Policy } from './policy.ts';

export const TAG_ENFORCED_AT = 'imds-remediator:enforced-at';
export const TAG_HOP_LIMIT_SET_AT = 'imds-remediator:hop-limit-set-at';
export const TAG_REASON = 'imds-remediator:reason';
const TAG_VALUE_MAX = 256;
const DAY_MS = 86_400_000;

export interface PlannedShard extends Shard {
  accountExemption?: string | undefined;
}

export interface SweepPlan {
  shards: PlannedShard[];
  errors: ScopeError[];
  accounts: number;
}

export interface ShardOptions {
  apply: boolean;
  now: Date;
  log: Log;
  /** How long to wait for EC2 to show a change as applied. */
  verify?: { attempts: number; delayMs: number };
  /** Parallel ModifyInstanceMetadataOptions calls within one account-region. */
  modifyConcurrency?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whole days, ending now: the window GetMetricData buckets into daily sums. */
export const evidenceWindow = (policy: Policy, now: Date) => {
  const startOfToday = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  return { start: new Date(startOfToday - (policy.lookbackDays - 1) * DAY_MS), end: now };
};

/** Accounts in scope × their enabled regions ∩ the policy's regions. */
export const planSweep = async (world: World, policy: Policy, log: Log, concurrency = 8): Promise<SweepPlan> => {
  const errors: ScopeError[] = [];
  const org = world.organization;
  const all = await org.listActiveAccounts();
  const active = new Set(all.map((a) => a.id));

  let inScope = all;
  const { accounts: scopeAccounts, ous: scopeOus } = policy.scope;
  if (scopeAccounts.length > 0 || scopeOus.length > 0) {
    const underOus = scopeOus.length > 0 ? await org.listAccountsUnder(scopeOus) : new Set<string>();
    inScope = all.filter((a) => scopeAccounts.includes(a.id) || underOus.has(a.id));
    for (const id of scopeAccounts.filter((id) => !active.has(id))) {
      errors.push({ accountId: id, region: null, message: 'scope.accounts names an account that is not ACTIVE in the organization' });
    }
  }

  const exemptUnderOus = policy.exempt.ous.length > 0 ? await org.listAccountsUnder(policy.exempt.ous) : new Set<string>();
  const exemption = (accountId: string): string | undefined => {
    if (policy.exempt.accounts.includes(accountId)) return 'account exempt by policy (exempt.accounts)';
    if (exemptUnderOus.has(accountId)) return 'account exempt by policy (in an OU of exempt.ous)';
    return undefined;
  };

  const limit = pLimit(concurrency);
  const wanted = policy.scope.regions;
  const perAccount = await Promise.all(
    inScope.map((account) =>
      limit(async (): Promise<PlannedShard[]> => {
        try {
          const enabled = await world.accountEc2(account.id).enabledRegions();
          const regions = wanted.length > 0 ? wanted.filter((r) => enabled.includes(r)) : enabled;
          const skipped = wanted.filter((r) => !enabled.includes(r));
          if (skipped.length > 0) log.info('regions not enabled in account, skipped', { accountId: account.id, regions: skipped });
          const accountExemption = exemption(account.id);
          return regions.sort().map((region) => ({ accountId: account.id, region, accountExemption }));
        } catch (error) {
          const message = `cannot reach account: ${describeError(error)}`;
          log.error('account skipped', { accountId: account.id, reason: message });
          errors.push({ accountId: account.id, region: null, message });
          return [];
        }
      }),
    ),
  );
  return { shards: perAccount.flat(), errors, accounts: inScope.length };
};

const result = (shard: Shard, facts: InstanceFacts, decision: Decision, evidence: Evidence | undefined): InstanceResult => ({
  accountId: shard.accountId,
  region: shard.region,
  instanceId: facts.instanceId,
  verdict: decision.verdict,
  reason: decision.reason,
  noTokenCalls: evidence?.noTokenCalls ?? null,
  observedDays: evidence?.observedDays ?? null,
  hopLimit: decision.hopLimit,
  changed: false,
});

const isNotFound = (error: unknown) =>
  error instanceof Error && /InvalidInstanceID\.(NotFound|Malformed)/.test(`${error.name} ${(error as { Code?: string }).Code ?? ''}`);

/** Modify, then re-read (batched) until EC2 shows the options applied. */
const act = async (
  ports: ShardPorts,
  shard: Shard,
  targets: InstanceResult[],
  options: ShardOptions,
  errors: ScopeError[],
): Promise<void> => {
  const { log } = options;
  const limit = pLimit(options.modifyConcurrency ?? 5);
  const sent: InstanceResult[] = [];
  await Promise.all(
    targets.map((target) =>
      limit(async () => {
        try {
          await ports.ec2.requireTokens(target.instanceId, target.hopLimit);
          sent.push(target);
        } catch (error) {
          const why = isNotFound(error) ? 'instance no longer exists' : describeError(error);
          log.error('change failed', { ...shard, instanceId: target.instanceId, verdict: target.verdict, reason: why });
          target.reason = `${target.verdict} failed: ${why}`;
          target.verdict = 'error';
        }
      }),
    ),
  );

  const { attempts, delayMs } = options.verify ?? { attempts: 10, delayMs: 1000 };
  let pending = sent;
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(delayMs * Math.min(attempt - 1, 5));
    let current;
    try {
      current = await ports.ec2.readMetadataOptions(pending.map((t) => t.instanceId));
    } catch (error) {
      log.warn('re-read failed, will retry', { ...shard, attempt, reason: describeError(error) });
      continue;
    }
    pending = pending.filter((target) => {
      const options = current.get(target.instanceId);
      if (!options) {
        target.reason = `${target.verdict} sent, but the instance no longer exists`;
        target.verdict = 'error';
        return false;
      }
      const applied = options.state === 'applied' && options.httpTokens === 'required' && options.hopLimit === target.hopLimit;
      if (applied) target.changed = true;
      return !applied;
    });
  }
  for (const target of pending) {
    target.reason = `${target.verdict} sent, but EC2 did not show it applied after ${attempts} reads`;
    target.verdict = 'error';
  }

  const changed = targets.filter((t) => t.changed);
  const at = options.now.toISOString();
  const groups = new Map<string, InstanceResult[]>();
  for (const t of changed) {
    const key = `${t.verdict}\u0000${t.reason}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const group of groups.values()) {
    const first = group[0];
    if (!first) continue;
    const when = first.verdict === 'enforce' ? TAG_ENFORCED_AT : TAG_HOP_LIMIT_SET_AT;
    try {
      await ports.ec2.tagInstances(
        group.map((t) => t.instanceId),
        { [when]: at, [TAG_REASON]: first.reason.slice(0, TAG_VALUE_MAX) },
      );
    } catch (error) {
      const message = `changed ${group.length} instance(s) but could not tag them: ${describeError(error)}`;
      log.error('tagging failed', { ...shard, instanceIds: group.map((t) => t.instanceId), reason: message });
      errors.push({ ...shard, message });
    }
  }
  for (const t of changed) {
    log.info('instance changed', {
      ...shard,
      instanceId: t.instanceId,
      verdict: t.verdict,
      hopLimit: t.hopLimit,
      reason: t.reason,
    });
  }
};

/** One account-region, end to end. Never throws: failures become errors in the result. */
export const sweepShard = async (
  ports: ShardPorts,
  shard: PlannedShard,
  policy: Policy,
  options: ShardOptions,
): Promise<ShardResult> => {
  const { log } = options;
  const where: Shard = { accountId: shard.accountId, region: shard.region };
  const errors: ScopeError[] = [];

  let instances: InstanceFacts[];
  try {
    instances = await ports.ec2.listInstances();
  } catch (error) {
    const message = `cannot list instances: ${describeError(error)}`;
    log.error('shard failed', { ...where, reason: message });
    return { shard: where, instances: [], errors: [{ ...where, message }] };
  }

  const needing = instances.filter(needsEvidence);
  let evidence = new Map<string, Evidence>();
  let evidenceFailure: string | undefined;
  if (needing.length > 0) {
    try {
      evidence = await ports.metrics.countNoTokenCalls(
        needing.map((i) => i.instanceId),
        evidenceWindow(policy, options.now),
      );
    } catch (error) {
      evidenceFailure = `cannot read MetadataNoToken: ${describeError(error)}`;
      errors.push({ ...where, message: evidenceFailure });
    }
  }

  const context = { accountExemption: shard.accountExemption, now: options.now };
  const results = instances.map((facts) => {
    const seen = evidence.get(facts.instanceId);
    const decision = decide(facts, seen, policy, context);
    const forced = decision.verdict === 'enforce' && seen === undefined && needsEvidence(facts);
    if (evidenceFailure && needsEvidence(facts) && !forced && decision.verdict !== 'exempt') {
      return result(where, facts, { ...decision, verdict: 'error', reason: evidenceFailure }, seen);
    }
    return result(where, facts, decision, seen);
  });

  for (const r of results) {
    log.info('decision', { ...where, instanceId: r.instanceId, verdict: r.verdict, reason: r.reason, mode: options.apply ? 'apply' : 'plan' });
  }

  if (options.apply) {
    const targets = results.filter((r) => r.verdict === 'enforce' || r.verdict === 'fix-hop-limit');
    if (targets.length > 0) await act(ports, where, targets, options, errors);
  }
  return { shard: where, instances: results, errors };
};

export const buildReport = (mode: SweepReport['mode'], plan: SweepPlan, shards: ShardResult[]): SweepReport => {
  const instances = shards.flatMap((s) => s.instances);
  const errors = [...plan.errors, ...shards.flatMap((s) => s.errors)];
  const byVerdict = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as SweepReport['summary']['byVerdict'];
  for (const i of instances) byVerdict[i.verdict] += 1;
  return {
    mode,
    summary: {
      byVerdict,
      changed: instances.filter((i) => i.changed).length,
      errors: errors.length + byVerdict.error,
      accounts: plan.accounts,
      shards: plan.shards.length,
    },
    instances,
    errors,
  };
};

export interface SweepOptions {
  apply: boolean;
  log: Log;
  now?: () => Date;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  verify?: ShardOptions['verify'];
}

/** plan → shards (bounded concurrency) → report: the local twin of the Step Functions flow. */
export const runSweep = async (world: World, policy: Policy, options: SweepOptions): Promise<SweepReport> => {
  const apply = options.apply && policy.mode === 'enforce';
  if (options.apply && !apply) options.log.warn('policy mode is report: apply changes nothing');
  const plan = await planSweep(world, policy, options.log, options.concurrency);
  const limit = pLimit(options.concurrency ?? 8);
  let done = 0;
  const shards = await Promise.all(
    plan.shards.map((shard) =>
      limit(async () => {
        const now = options.now?.() ?? new Date();
        const shardResult = await sweepShard(world.shard(shard), shard, policy, {
          apply,
          now,
          log: options.log,
          verify: options.verify,
        });
        options.onProgress?.(++done, plan.shards.length);
        return shardResult;
      }),
    ),
  );
  return buildReport(apply ? 'apply' : 'plan', plan, shards);
};

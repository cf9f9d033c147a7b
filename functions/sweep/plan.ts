import pLimit from 'p-limit';
import type { Log } from '../domain/log.ts';
import type { World } from './ports.ts';
import { resolveAccountScope } from './account-scope.ts';
import { describeError } from '../domain/errors.ts';
import type { OrganizationTree, ScopeError, Shard } from '../domain/model.ts';
import { UNSWEPT_REGIONS_MAX, type SweepOrganization } from '../guardrails/readiness.ts';
import type { Policy } from '../domain/policy.ts';

export interface PlannedShard extends Shard {
  accountExemption?: string | undefined;
}

export interface SweepPlan {
  shards: PlannedShard[];
  errors: ScopeError[];
  accounts: number;
  /**
   * The organization's roots, OUs and accounts, for the readiness per OU; undefined when the walk
   * failed (logged) or there is no organization. The sweep does not depend on it.
   */
  organization?: SweepOrganization | undefined;
}

/** The tree, or undefined with a warning: readiness per OU is a report's extra, never a reason to stop a sweep. */
const readTree = async (world: World, log: Log): Promise<OrganizationTree | undefined> => {
  try {
    return await world.organization.organizationTree();
  } catch (error) {
    log.warn('organization tree not read: the report leaves out readiness per OU', { reason: describeError(error) });
    return undefined;
  }
};

/** Accounts in scope × their enabled regions ∩ the policy's regions. */
export const planSweep = async (world: World, policy: Policy, log: Log, concurrency = 8): Promise<SweepPlan> => {
  const errors: ScopeError[] = [];
  const org = world.organization;
  const [all, organization] = await Promise.all([org.listActiveAccounts(), readTree(world, log)]);
  const active = new Set(all.map((a) => a.id));

  const scope = await resolveAccountScope(org, policy);
  const inScope = all.filter((a) => scope.outOfScope(a.id) === undefined);
  for (const id of policy.scope.accounts.filter((id) => !active.has(id))) {
    errors.push({ accountId: id, region: null, message: 'scope.accounts names an account that is not ACTIVE in the organization' });
  }

  const limit = pLimit(concurrency);
  const wanted = policy.scope.regions;
  // Enabled regions outside scope.regions, per reachable account: the guardrails apply there too.
  const unsweptRegions: Record<string, string[]> = {};
  const perAccount = await Promise.all(
    inScope.map((account) =>
      limit(async (): Promise<PlannedShard[]> => {
        try {
          const enabled = await world.accountEc2(account.id).enabledRegions();
          const regions = wanted.length > 0 ? wanted.filter((r) => enabled.includes(r)) : enabled;
          const skipped = wanted.filter((r) => !enabled.includes(r));
          if (skipped.length > 0) log.info('regions not enabled in account, skipped', { accountId: account.id, regions: skipped });
          unsweptRegions[account.id] = enabled.filter((r) => !regions.includes(r)).sort().slice(0, UNSWEPT_REGIONS_MAX);
          const accountExemption = scope.exemption(account.id);
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
  const shards = perAccount.flat();
  const plannedShards: Record<string, number> = Object.fromEntries(inScope.map((a) => [a.id, 0]));
  for (const s of shards) plannedShards[s.accountId] = (plannedShards[s.accountId] ?? 0) + 1;
  return { shards, errors, accounts: inScope.length, organization: organization && { tree: organization, plannedShards, unsweptRegions } };
};

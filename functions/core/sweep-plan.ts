import pLimit from 'p-limit';
import type { Log, World } from '../ports.ts';
import { describeError } from './errors.ts';
import type { ScopeError, Shard } from './model.ts';
import type { Policy } from './policy.ts';

export interface PlannedShard extends Shard {
  accountExemption?: string | undefined;
}

export interface SweepPlan {
  shards: PlannedShard[];
  errors: ScopeError[];
  accounts: number;
}

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

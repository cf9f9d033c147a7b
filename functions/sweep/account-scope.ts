import type { OrganizationPort } from './ports.ts';
import type { Policy } from '../domain/policy.ts';

export interface AccountScope {
  /** Undefined when the account is in scope; otherwise why it is not. */
  outOfScope(accountId: string): string | undefined;
  /** Why every instance of the account is exempt; undefined when it is not. */
  exemption(accountId: string): string | undefined;
}

/** Resolves the policy's account and OU lists (OUs at any depth) once. */
export const resolveAccountScope = async (org: OrganizationPort, policy: Policy): Promise<AccountScope> => {
  const { accounts: scopeAccounts, ous: scopeOus } = policy.scope;
  const [underScopeOus, underExemptOus] = await Promise.all([
    scopeOus.length > 0 ? org.listAccountsUnder(scopeOus) : Promise.resolve(new Set<string>()),
    policy.exempt.ous.length > 0 ? org.listAccountsUnder(policy.exempt.ous) : Promise.resolve(new Set<string>()),
  ]);
  const everything = scopeAccounts.length === 0 && scopeOus.length === 0;
  return {
    outOfScope: (accountId) =>
      everything || scopeAccounts.includes(accountId) || underScopeOus.has(accountId)
        ? undefined
        : 'account is not in the policy scope (scope.accounts, scope.ous)',
    exemption: (accountId) => {
      if (policy.exempt.accounts.includes(accountId)) return 'account exempt by policy (exempt.accounts)';
      if (underExemptOus.has(accountId)) return 'account exempt by policy (in an OU of exempt.ous)';
      return undefined;
    },
  };
};

import {
  AWSOrganizationsNotInUseException,
  DescribeOrganizationCommand,
  paginateListAccounts,
  paginateListAccountsForParent,
  paginateListOrganizationalUnitsForParent,
  type OrganizationsClient,
} from '@aws-sdk/client-organizations';
import type { STSClient } from '@aws-sdk/client-sts';
import type { Account } from '../domain/model.ts';
import { ScopeFailure } from '../domain/errors.ts';
import type { Caller, OrganizationPort } from '../sweep/ports.ts';
import { boundedPages } from './pages.ts';
import { readCaller } from './sts.ts';
import { IncompleteListingError } from '../domain/errors.ts';

export const ORGANIZATIONS_IAM_ACTIONS = [
  'organizations:ListAccounts',
  'organizations:ListAccountsForParent',
  'organizations:ListOrganizationalUnitsForParent',
] as const;

/** Organizations pages hold at most 20 accounts: 5,000 pages is 100,000 accounts, far above its quota. */
const MAX_PAGES = 5_000;
/** OUs nest at most five levels; this bounds a malformed tree (a cycle) all the same. */
const MAX_PARENTS = 10_000;

export class OrganizationsAdapter implements OrganizationPort {
  #caller: Promise<Caller> | undefined;

  constructor(
    private readonly org: OrganizationsClient,
    private readonly sts: STSClient,
  ) {}

  caller(): Promise<Caller> {
    this.#caller ??= readCaller(this.sts);
    return this.#caller;
  }

  async listActiveAccounts(): Promise<Account[]> {
    const accounts: Account[] = [];
    try {
      for await (const page of boundedPages('ListAccounts', paginateListAccounts({ client: this.org }, {}), MAX_PAGES)) {
        for (const a of page.Accounts ?? []) {
          // `State` replaces the deprecated `Status`; accept either.
          const state = (a as { State?: string }).State ?? a.Status;
          if (a.Id && state === 'ACTIVE') accounts.push({ id: a.Id, name: a.Name ?? a.Id });
        }
      }
    } catch (error) {
      // A standalone account is an organization of one.
      if (!(error instanceof AWSOrganizationsNotInUseException)) throw error;
      const { accountId } = await this.caller();
      return [{ id: accountId, name: 'caller (no organization)' }];
    }
    return accounts;
  }

  async listAccountsUnder(parentIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const queue = [...parentIds];
    const visited = new Set<string>();
    for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
      if (visited.has(parent)) continue;
      visited.add(parent);
      if (visited.size > MAX_PARENTS) throw new IncompleteListingError(`more than ${MAX_PARENTS} OUs below ${parentIds.join(', ')}, stopped`);
      for await (const page of boundedPages('ListAccountsForParent', paginateListAccountsForParent({ client: this.org }, { ParentId: parent }), MAX_PAGES)) {
        for (const a of page.Accounts ?? []) if (a.Id) found.add(a.Id);
      }
      for await (const page of boundedPages('ListOrganizationalUnitsForParent', paginateListOrganizationalUnitsForParent({ client: this.org }, { ParentId: parent }), MAX_PAGES)) {
        for (const ou of page.OrganizationalUnits ?? []) if (ou.Id) queue.push(ou.Id);
      }
    }
    return found;
  }
}

/** What the caller needs for `doctor`'s check of the central bus policy (not a function role's action). */
export const ORGANIZATIONS_DOCTOR_IAM_ACTIONS = ['organizations:DescribeOrganization'] as const;

/** The organization's id (o-…). */
export const readOrganizationId = async (org: OrganizationsClient): Promise<string> => {
  const out = await org.send(new DescribeOrganizationCommand({}));
  if (!out.Organization?.Id) throw new ScopeFailure('DescribeOrganization returned no organization id');
  return out.Organization.Id;
};

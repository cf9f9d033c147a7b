import {
  AWSOrganizationsNotInUseException,
  DescribeOrganizationCommand,
  paginateListAccounts,
  paginateListAccountsForParent,
  paginateListOrganizationalUnitsForParent,
  paginateListRoots,
  type Account as OrgAccount,
  type OrganizationsClient,
} from '@aws-sdk/client-organizations';
import type { STSClient } from '@aws-sdk/client-sts';
import type { Account, OrganizationTree, OrganizationUnit } from '../domain/model.ts';
import { ScopeFailure } from '../domain/errors.ts';
import type { Caller, OrganizationPort } from '../sweep/ports.ts';
import { boundedPages } from './pages.ts';
import { readCaller } from './sts.ts';
import { IncompleteListingError } from '../domain/errors.ts';

export const ORGANIZATIONS_IAM_ACTIONS = [
  'organizations:ListAccounts',
  'organizations:ListAccountsForParent',
  'organizations:ListOrganizationalUnitsForParent',
  'organizations:ListRoots',
] as const;

/** Organizations pages hold at most 20 accounts: 5,000 pages is 100,000 accounts, far above its quota. */
const MAX_PAGES = 5_000;
/** OUs nest at most five levels; this bounds a malformed tree (a cycle) all the same. */
const MAX_PARENTS = 10_000;

// `State` replaces the deprecated `Status`; accept either.
const isActive = (a: OrgAccount) => ((a as { State?: string }).State ?? a.Status) === 'ACTIVE';

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
          if (a.Id && isActive(a)) accounts.push({ id: a.Id, name: a.Name ?? a.Id });
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
    for await (const { accounts } of this.#walk(parentIds)) for (const a of accounts) if (a.Id) found.add(a.Id);
    return found;
  }

  /**
   * The whole tree, from its roots: two paged calls per root or OU (its accounts, its child OUs),
   * never one per account, so that a thousand accounts in fifty OUs cost about a hundred calls.
   */
  async organizationTree(): Promise<OrganizationTree> {
    const units: OrganizationUnit[] = [];
    for await (const page of boundedPages('ListRoots', paginateListRoots({ client: this.org }, {}), MAX_PAGES)) {
      for (const root of page.Roots ?? []) if (root.Id) units.push({ id: root.Id, name: root.Name ?? 'Root', parentId: null });
    }
    const accounts: OrganizationTree['accounts'] = [];
    for await (const { parent, accounts: listed, ous } of this.#walk(units.map((u) => u.id))) {
      for (const a of listed) if (a.Id && isActive(a)) accounts.push({ id: a.Id, name: a.Name ?? a.Id, parentId: parent });
      for (const ou of ous) units.push({ id: ou.id, name: ou.name, parentId: parent });
    }
    return { units, accounts };
  }

  /** The management account (SCPs do not restrict it); undefined when DescribeOrganization cannot say. */
  async managementAccountId(): Promise<string | undefined> {
    try {
      return (await this.org.send(new DescribeOrganizationCommand({}))).Organization?.MasterAccountId;
    } catch {
      return undefined;
    }
  }

  /** Each parent below these (themselves included, breadth first) with its accounts and child OUs. */
  async *#walk(parentIds: string[]) {
    const queue = [...parentIds];
    const visited = new Set<string>();
    for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
      if (visited.has(parent)) continue;
      visited.add(parent);
      if (visited.size > MAX_PARENTS) throw new IncompleteListingError(`more than ${MAX_PARENTS} OUs below ${parentIds.join(', ')}, stopped`);
      const accounts: OrgAccount[] = [];
      for await (const page of boundedPages('ListAccountsForParent', paginateListAccountsForParent({ client: this.org }, { ParentId: parent }), MAX_PAGES)) {
        accounts.push(...(page.Accounts ?? []));
      }
      const ous: Array<{ id: string; name: string }> = [];
      for await (const page of boundedPages('ListOrganizationalUnitsForParent', paginateListOrganizationalUnitsForParent({ client: this.org }, { ParentId: parent }), MAX_PAGES)) {
        for (const ou of page.OrganizationalUnits ?? []) if (ou.Id) ous.push({ id: ou.Id, name: ou.Name ?? ou.Id });
      }
      queue.push(...ous.map((ou) => ou.id));
      yield { parent, accounts, ous };
    }
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

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
import type { Caller, OrganizationPort } from '../ports.ts';
import { readCaller } from './sts.ts';

export const ORGANIZATIONS_IAM_ACTIONS = [
  'organizations:ListAccounts',
  'organizations:ListAccountsForParent',
  'organizations:ListOrganizationalUnitsForParent',
] as const;

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
      for await (const page of paginateListAccounts({ client: this.org }, {})) {
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
    for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
      for await (const page of paginateListAccountsForParent({ client: this.org }, { ParentId: parent })) {
        for (const a of page.Accounts ?? []) if (a.Id) found.add(a.Id);
      }
      for await (const page of paginateListOrganizationalUnitsForParent({ client: this.org }, { ParentId: parent })) {
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

// What a sweep (and the event path, which shares its scope rules) needs from the organization.
import type { Account, OrganizationTree, Shard } from '../domain/model.ts';
import type { Notifier } from '../notify/port.ts';
import type { Ec2Port, ShardPorts } from '../pipeline/ports.ts';

export interface Caller {
  accountId: string;
  partition: string;
}

export interface OrganizationPort {
  caller(): Promise<Caller>;
  /** ACTIVE accounts only. */
  listActiveAccounts(): Promise<Account[]>;
  /** Every account below these OUs (or roots), at any depth. */
  listAccountsUnder(parentIds: string[]): Promise<Set<string>>;
  /** The roots, OUs and ACTIVE accounts of the whole organization, walked from its roots. */
  organizationTree(): Promise<OrganizationTree>;
  /** The management account, which SCPs do not restrict; undefined when it cannot be read. */
  managementAccountId(): Promise<string | undefined>;
}

/** JSON documents in the sweep's own bucket: the Distributed Map's items and its results. */
export interface JsonStore {
  readonly bucket: string;
  putJson(key: string, value: unknown): Promise<void>;
  /** Throws InputError when the object is missing or not JSON. */
  getJson(key: string): Promise<unknown>;
}

export interface World {
  organization: OrganizationPort;
  /** Regions are read from the account's home region endpoint. */
  accountEc2(accountId: string): Ec2Port;
  shard(shard: Shard): ShardPorts;
  /** Undefined when no webhook is configured. */
  notifier?: Notifier | undefined;
}

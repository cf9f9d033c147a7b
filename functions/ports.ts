// What the core needs from the world. Adapters implement these; tests and the CLI
// wire real adapters against whatever endpoint the SDK's standard environment names.
import type { AsffFinding, ExistingFinding } from './findings/asff.ts';
import type { Account, Evidence, InstanceFacts, MetadataOptions, Shard } from './domain/model.ts';
import type { SlackMessage } from './notify/slack-message.ts';

export interface Log {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

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
}

export interface TimeWindow {
  start: Date;
  end: Date;
}

export interface Ec2Port {
  /** Opted-in (or opt-in-not-required) regions of this account. */
  enabledRegions(): Promise<string[]>;
  /** Every instance that is not terminated or shutting down. */
  listInstances(): Promise<InstanceFacts[]>;
  /** These instances (batched); ids that no longer exist are missing from the result. */
  describeInstances(instanceIds: string[]): Promise<InstanceFacts[]>;
  /** Every live instance carrying this tag with one of these values. */
  findInstancesByTag(key: string, values: string[]): Promise<InstanceFacts[]>;
  /** Current metadata options; an id missing from the map no longer exists. */
  readMetadataOptions(instanceIds: string[]): Promise<Map<string, MetadataOptions>>;
  /** HttpTokens=required, endpoint enabled, this hop limit. */
  requireTokens(instanceId: string, hopLimit: number): Promise<void>;
  /** The rollback watch's revert: HttpTokens=optional again, endpoint enabled, this hop limit. */
  allowTokens(instanceId: string, hopLimit: number): Promise<void>;
  tagInstances(instanceIds: string[], tags: Record<string, string>): Promise<void>;
}

export interface MetricsPort {
  /** MetadataNoToken per instance over the window; instances without datapoints have observedDays 0. */
  countNoTokenCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, Evidence>>;
  /** MetadataNoTokenRejected per instance over the window: v1 calls refused because tokens are required. */
  countRejectedCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, number>>;
}

export interface ImportFailure {
  id: string;
  errorCode: string;
  message: string;
}

/** Security Hub in one account-region, with that account's credentials. */
export interface FindingsPort {
  /** Our findings already there whose Id starts with idPrefix (this account-region's), whatever else the server returns. */
  existing(query: { accountId: string; generatorId: string; idPrefix: string }): Promise<Map<string, ExistingFinding>>;
  /** Imports in batches of at most 100; a batch that fails outright fails each of its findings. Never throws. */
  importFindings(findings: AsffFinding[]): Promise<ImportFailure[]>;
}

export interface Delivery {
  attempts: number;
  /** Time spent waiting between attempts (Retry-After or back-off). */
  waitedMs: number;
}

/** Where people act: a Slack incoming webhook. Throws NotificationError once its retries are spent. */
export interface Notifier {
  post(message: SlackMessage): Promise<Delivery>;
}

/** Access to one account-region, with credentials already arranged. */
export interface ShardPorts {
  ec2: Ec2Port;
  metrics: MetricsPort;
  findings?: FindingsPort;
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

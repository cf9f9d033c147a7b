// What the per-instance pipeline needs from one account-region. Adapters implement these;
// the composition root arranges the account's credentials before handing them over.
import type { InstanceFacts, MetadataOptions, MetricSums, RejectedSums } from '../domain/model.ts';
import type { TemplateChange, TemplateFacts, TemplateVersionFacts } from '../domain/templates.ts';
import type { FindingsPort } from '../findings/port.ts';

export interface TimeWindow {
  start: Date;
  end: Date;
}

export interface Ec2Port {
  /** Opted-in (or opt-in-not-required) regions of this account. */
  enabledRegions(): Promise<string[]>;
  /**
   * Every instance that is not terminated or shutting down. With `timeUp`, the listing ends
   * with an OutOfTimeError between pages once time is up.
   */
  listInstances(timeUp?: () => boolean): Promise<InstanceFacts[]>;
  /** These instances (batched); ids that no longer exist are missing from the result. */
  describeInstances(instanceIds: string[]): Promise<InstanceFacts[]>;
  /** Every live instance carrying this tag with one of these values. */
  findInstancesByTag(key: string, values: string[]): Promise<InstanceFacts[]>;
  /** Current metadata options; an id missing from the map no longer exists. */
  readMetadataOptions(instanceIds: string[]): Promise<Map<string, MetadataOptions>>;
  /**
   * Sets HttpTokens, with the endpoint enabled and this hop limit. Throws InstanceGoneError,
   * InstanceNotReadyError or UnsupportedChangeError where EC2's answer means one of those.
   */
  setMetadataOptions(instanceId: string, httpTokens: 'required' | 'optional', hopLimit: number): Promise<void>;
  /**
   * Who governs this account-region's IMDS settings. An EC2 declarative policy of the
   * organization makes them unmodifiable from inside the account: asked only after a
   * modify fails, so the usual path costs no call.
   */
  metadataDefaultsManager(): Promise<{ managedBy: 'account' | 'declarative-policy'; message: string | undefined }>;
  /** Sets the hop limit alone; EC2 keeps the options a call leaves out. Throws as setMetadataOptions does. */
  setHopLimit(instanceId: string, hopLimit: number): Promise<void>;
  /** Throws InstanceGoneError when one of the instances no longer exists (the batch is not tagged). */
  tagInstances(instanceIds: string[], tags: Record<string, string>): Promise<void>;
}

export interface MetricsPort {
  /** MetadataNoToken per instance over the window; an instance without datapoints has observedDays 0. */
  countNoTokenCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, MetricSums>>;
  /**
   * MetadataNoTokenRejected per instance over the window: v1 calls refused because tokens are
   * required, and the first day that had one (whether they began soon after an enforcement).
   */
  countRejectedCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, RejectedSums>>;
}

/** A launch template as listed, before its versions and users are read. */
export type TemplateListing = Omit<TemplateFacts, 'versions' | 'groups'>;

/** The account-region's EC2 launch templates (the sweep's templates step). */
export interface LaunchTemplatesPort {
  /** Every launch template of the account-region. */
  listTemplates(): Promise<TemplateListing[]>;
  /** These versions (numbers, `$Default`, `$Latest`) of one template; a version that no longer exists is left out. */
  readVersions(launchTemplateId: string, versions: string[]): Promise<TemplateVersionFacts[]>;
  /**
   * A new version: the source version's whole launch data, read afresh, with HttpTokens=required
   * and the change's hop limit (the endpoint as the source has it). `clientToken` makes a retried call create one
   * version, not two. Returns the new version's number.
   */
  createFixedVersion(launchTemplateId: string, change: TemplateChange, description: string, clientToken: string): Promise<number>;
  setDefaultVersion(launchTemplateId: string, version: number): Promise<void>;
  /**
   * When this tool made an earlier version of the template (its VersionDescription says so), the
   * version and its creation time; undefined when it never did. Read only for a template that
   * allows IMDSv1 again, to tell a set-back from a first fix.
   */
  earlierFix(launchTemplateId: string, before: number): Promise<string | undefined>;
  tagTemplate(launchTemplateId: string, tags: Record<string, string>): Promise<void>;
  /** Which of these template ids still exist (asked by id, before a finding is archived). */
  existingTemplates(launchTemplateIds: string[]): Promise<Set<string>>;
}

/** An Auto Scaling group and what it launches from. */
export interface GroupListing {
  name: string;
  /** Each launch template it names (its own, or its mixed instances policy's), with the version. */
  templates: Array<{ launchTemplateId: string | undefined; launchTemplateName: string | undefined; version: string }>;
  launchConfigurationName: string | undefined;
}

/** The account-region's Auto Scaling groups and launch configurations. */
export interface AutoScalingPort {
  listGroups(): Promise<GroupListing[]>;
  /** Launch configurations that allow IMDSv1 (HttpTokens optional or not set, endpoint not disabled). */
  listLaunchConfigurationsAllowingV1(): Promise<string[]>;
}

/** Access to one account-region, with credentials already arranged. */
export interface ShardPorts {
  ec2: Ec2Port;
  metrics: MetricsPort;
  findings?: FindingsPort;
  /** Launch templates and the groups that use them; undefined where templates are not handled (events). */
  templates?: { ec2: LaunchTemplatesPort; autoscaling: AutoScalingPort } | undefined;
}

/** Who holds an account-region, and until when (ISO 8601 times). */
export interface LeaseRecord {
  holder: string;
  takenAt: string;
  expiresAt: string;
  /** Set when the holder let go before the lease expired. */
  releasedAt?: string | undefined;
}

/** A lease as stored: its record (undefined when the object is not a lease record) and the version a conditional write names. */
export interface StoredLease {
  record: LeaseRecord | undefined;
  version: string;
}

/**
 * Leases of account-regions in a store with conditional writes, so that two runs never change
 * one account-region at the same time. Nothing is ever deleted: a lease is released by
 * overwriting it, and the store's own expiry removes old ones.
 */
export interface LeaseStore {
  /** Writes the record only where no lease exists; its version, or undefined when one exists already. */
  create(key: string, record: LeaseRecord): Promise<string | undefined>;
  /** The lease stored under the key; undefined when there is none. */
  read(key: string): Promise<StoredLease | undefined>;
  /** Overwrites the lease only while it is still at this version; the new version, or undefined when another writer came first. */
  replace(key: string, record: LeaseRecord, version: string): Promise<string | undefined>;
}

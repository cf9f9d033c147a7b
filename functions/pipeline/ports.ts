// What the per-instance pipeline needs from one account-region. Adapters implement these;
// the composition root arranges the account's credentials before handing them over.
import type { InstanceFacts, MetadataOptions, MetricSums } from '../domain/model.ts';
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
  /** Throws InstanceGoneError when one of the instances no longer exists (the batch is not tagged). */
  tagInstances(instanceIds: string[], tags: Record<string, string>): Promise<void>;
}

export interface MetricsPort {
  /** MetadataNoToken per instance over the window; an instance without datapoints has observedDays 0. */
  countNoTokenCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, MetricSums>>;
  /** MetadataNoTokenRejected per instance over the window: v1 calls refused because tokens are required. */
  countRejectedCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, MetricSums>>;
}

/** Access to one account-region, with credentials already arranged. */
export interface ShardPorts {
  ec2: Ec2Port;
  metrics: MetricsPort;
  findings?: FindingsPort;
}

// The domain's plain data: what the pipeline knows about the world and what it decided.
import { isPlannedChange, requiresTokensOnceApplied, VERDICT_TABLE, type Verdict } from './verdicts.ts';

export interface Account {
  id: string;
  name: string;
}

/** A root or an organizational unit: where an SCP or a declarative policy can be attached. */
export interface OrganizationUnit {
  id: string;
  name: string;
  /** Null for a root. */
  parentId: string | null;
}

/** The organization's tree as one walk of it reads it: its roots and OUs, and its ACTIVE accounts. */
export interface OrganizationTree {
  units: OrganizationUnit[];
  accounts: Array<{ id: string; name: string; parentId: string }>;
}

/** One unit of sweep work: an account in a region. */
export interface Shard {
  accountId: string;
  region: string;
}

export interface MetadataOptions {
  httpTokens: 'optional' | 'required';
  httpEndpoint: 'enabled' | 'disabled';
  hopLimit: number;
  /** `pending` while EC2 is still applying a change. */
  state: 'pending' | 'applied';
}

export interface InstanceFacts {
  instanceId: string;
  state: string;
  launchTime: Date | undefined;
  tags: Record<string, string>;
  metadata: MetadataOptions;
  instanceProfileArn: string | undefined;
}

/** Daily sums of one CloudWatch metric over the look-back window; `observedDays` 0 means unknown, not zero. */
export interface MetricSums {
  calls: number;
  observedDays: number;
}

/** MetadataNoTokenRejected's sums, with the day the rejections began. */
export interface RejectedSums extends MetricSums {
  /** The start (UTC) of the first day of the window with a rejected call; undefined when there was none. */
  firstDay: Date | undefined;
}

/** One metric read for one instance: its value, why it could not be read, or that it was not needed. */
export type Reading<T> = { status: 'read'; value: T } | { status: 'failed'; reason: string } | { status: 'not-needed' };

export const NOT_NEEDED = { status: 'not-needed' } as const;

/** What CloudWatch says about an instance's IMDSv1 use. */
export interface Evidence {
  /** MetadataNoToken: IMDSv1 calls answered. */
  noToken: Reading<MetricSums>;
  /** MetadataNoTokenRejected: IMDSv1 calls refused, read for instances this tool enforced. */
  rejected: Reading<RejectedSums>;
}

export const NO_EVIDENCE: Evidence = { noToken: NOT_NEEDED, rejected: NOT_NEEDED };

/** An instance as the observe step leaves it: its facts and the evidence read for it. */
export interface Observation {
  facts: InstanceFacts;
  evidence: Evidence;
}

export interface Decision {
  verdict: Verdict;
  reason: string;
  /** The hop limit the policy wants for this instance. */
  hopLimit: number;
}

export interface InstanceResult {
  accountId: string;
  region: string;
  instanceId: string;
  verdict: Verdict;
  reason: string;
  noTokenCalls: number | null;
  observedDays: number | null;
  hopLimit: number;
  changed: boolean;
}

/**
 * Still allowing IMDSv1, or with the wrong hop limit, after this run (exemptions aside). A
 * change that leaves IMDSv1 allowed (a raised hop limit, a revert) does not make it compliant.
 */
export const isNonCompliant = (i: InstanceResult) =>
  VERDICT_TABLE[i.verdict].nonCompliant && !(i.changed && requiresTokensOnceApplied(i.verdict));
/** A change the policy wants that this run did not make (a plan, or a change that failed). */
export const isToChange = (i: InstanceResult) => !i.changed && isPlannedChange(i.verdict);

export interface ScopeError {
  accountId: string;
  region: string | null;
  message: string;
}

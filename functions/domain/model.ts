// The domain's plain data: what the sweep knows about the world and what it decided.
import type { NotificationOutcome } from '../notify/deliver.ts';
import type { FindingsOutcome } from '../findings/record.ts';

export const VERDICTS = [
  'compliant',
  'fix-hop-limit',
  'enforce',
  'blocked-v1-in-use',
  'v1-rejected',
  'insufficient-evidence',
  'exempt',
  'gone',
  'error',
] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface Account {
  id: string;
  name: string;
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

/** MetadataNoToken over the look-back window; `observedDays` 0 means unknown, not zero. */
export interface Evidence {
  noTokenCalls: number;
  observedDays: number;
  /** MetadataNoTokenRejected, read only for instances this tool enforced (the rollback watch). */
  rejectedCalls?: number;
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

/** Still allowing IMDSv1, or with the wrong hop limit, after this run (exemptions aside). */
const NON_COMPLIANT = new Set<Verdict>(['enforce', 'fix-hop-limit', 'blocked-v1-in-use', 'v1-rejected', 'insufficient-evidence']);
export const isNonCompliant = (i: InstanceResult) => !i.changed && NON_COMPLIANT.has(i.verdict);
/** A change the policy wants that this run did not make (a plan, or a change that failed). */
export const isToChange = (i: InstanceResult) => !i.changed && (i.verdict === 'enforce' || i.verdict === 'fix-hop-limit');

export interface ScopeError {
  accountId: string;
  region: string | null;
  message: string;
}

export interface ShardResult {
  shard: Shard;
  instances: InstanceResult[];
  errors: ScopeError[];
  /** Undefined when findings were not recorded. */
  findings?: FindingsOutcome | undefined;
}

export interface SweepSummary {
  byVerdict: Record<Verdict, number>;
  changed: number;
  errors: number;
  accounts: number;
  shards: number;
}

export interface SweepReport {
  mode: 'plan' | 'apply';
  summary: SweepSummary;
  instances: InstanceResult[];
  errors: ScopeError[];
  findings?: FindingsOutcome & { enabled: boolean };
  /** `slack`: the run summary (for an event, its messages); `alerts`: the rollback watch's alerts. */
  notifications?: { slack: NotificationOutcome; alerts?: NotificationOutcome };
}

// The domain's plain data: what the sweep knows about the world and what it decided.

export const VERDICTS = [
  'compliant',
  'fix-hop-limit',
  'enforce',
  'blocked-v1-in-use',
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

export interface ScopeError {
  accountId: string;
  region: string | null;
  message: string;
}

export interface ShardResult {
  shard: Shard;
  instances: InstanceResult[];
  errors: ScopeError[];
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
}

// AWS's published API rate limits, enforced on the loopback in front of moto_server (which
// never throttles), so that a benchmark's wall time shows the pacing that binds on AWS.
//
// Each limit is a token bucket per account and region, as AWS keeps them. A call that finds
// its bucket empty is not forwarded: it is answered with that service's own throttling error,
// which the SDK's retry strategy recognises, exactly as AWS answers it. Retries spend tokens too.
import { startFaultProxy, type Call, type Fault } from '../test/support/fault-proxy.ts';

export interface RateLimit {
  /** Names the bucket in reports. */
  name: string;
  service: string;
  /** The operations this bucket limits; a function for a class of operations. */
  operations: readonly string[] | ((operation: string) => boolean);
  /** Tokens the bucket holds (the burst). */
  capacity: number;
  /** Tokens added a second. */
  refillPerSecond: number;
  /** Where AWS publishes it. */
  source: string;
}

const EC2_THROTTLING = 'https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html';
const CLOUDWATCH_QUOTAS = 'https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html';
const SECURITY_HUB_IMPORT = 'https://docs.aws.amazon.com/securityhub/latest/partnerguide/guidelines-batchimportfindings.html';
const SECURITY_HUB_QUOTAS = 'https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-limits.html';

const nonMutating = (operation: string) => /^(Describe|Get|List|Search)/.test(operation);
const OWN_EC2_BUCKETS = new Set(['ModifyInstanceMetadataOptions', 'CreateTags']);

/**
 * The buckets that bind on this tool's calls. EC2's request-rate buckets are per API (each
 * non-mutating action has its own 100 / 20 s⁻¹ bucket); CloudWatch's and Security Hub's are
 * TPS quotas, modelled as a bucket of one second's worth (or the documented burst).
 * Not modelled: STS and Organizations (a few calls a run), EC2's resource-rate buckets
 * (RunInstances, TerminateInstances: the bench's seeding goes straight to moto), and EC2's
 * smaller bucket for unfiltered and unpaginated non-mutating calls (every DescribeInstances
 * here is paginated).
 */
export const AWS_RATE_LIMITS: readonly RateLimit[] = [
  { name: 'ec2:non-mutating', service: 'ec2', operations: nonMutating, capacity: 100, refillPerSecond: 20, source: EC2_THROTTLING },
  { name: 'ec2:ModifyInstanceMetadataOptions', service: 'ec2', operations: ['ModifyInstanceMetadataOptions'], capacity: 100, refillPerSecond: 5, source: EC2_THROTTLING },
  { name: 'ec2:CreateTags', service: 'ec2', operations: ['CreateTags'], capacity: 100, refillPerSecond: 10, source: EC2_THROTTLING },
  {
    name: 'ec2:mutating',
    service: 'ec2',
    operations: (op) => !nonMutating(op) && !OWN_EC2_BUCKETS.has(op),
    capacity: 200,
    refillPerSecond: 5,
    source: EC2_THROTTLING,
  },
  { name: 'cloudwatch:GetMetricData', service: 'monitoring', operations: ['GetMetricData'], capacity: 50, refillPerSecond: 50, source: CLOUDWATCH_QUOTAS },
  { name: 'cloudwatch:GetMetricStatistics', service: 'monitoring', operations: ['GetMetricStatistics'], capacity: 400, refillPerSecond: 400, source: CLOUDWATCH_QUOTAS },
  { name: 'securityhub:BatchImportFindings', service: 'securityhub', operations: ['BatchImportFindings'], capacity: 30, refillPerSecond: 10, source: SECURITY_HUB_IMPORT },
  { name: 'securityhub:GetFindings', service: 'securityhub', operations: ['GetFindings'], capacity: 6, refillPerSecond: 3, source: SECURITY_HUB_QUOTAS },
];

/** Each service's own answer to a call over its limit (the SDK retries it as throttling). */
const THROTTLING: Record<string, Fault> = {
  ec2: 'throttle', // 503 RequestLimitExceeded
  monitoring: 'throttle', // 400 Throttling
  securityhub: { code: 'TooManyRequestsException', status: 429, message: 'Rate exceeded' },
};

export interface RateLimitProxy {
  /** Point the SDK here (AWS_ENDPOINT_URL) instead of at moto. */
  endpoint: string;
  /** Throttled answers by operation since the last resetCounts(). */
  throttled(): Record<string, number>;
  /** Calls passed on to moto by operation since the last resetCounts(). */
  forwarded(): Record<string, number>;
  /**
   * Calls since the last resetCounts() signed with temporary credentials whose AssumeRole did
   * not pass through the proxy: their account is unknown, so they would share one bucket. A
   * benchmark run with any of them measured the wrong limits.
   */
  unknownAccountCalls(): number;
  resetCounts(): void;
  /** Every bucket full again, as after a quiet spell (between two strategies of one run). */
  resetBuckets(): void;
  close(): Promise<void>;
}

interface Bucket {
  tokens: number;
  at: number;
}

const matches = (limit: RateLimit, call: Call) =>
  limit.service === call.service && (typeof limit.operations === 'function' ? limit.operations(call.operation) : limit.operations.includes(call.operation));

export const startRateLimitProxy = async (
  target: string,
  options: { limits?: readonly RateLimit[]; now?: () => number } = {},
): Promise<RateLimitProxy> => {
  const limits = options.limits ?? AWS_RATE_LIMITS;
  const now = options.now ?? (() => performance.now());
  const buckets = new Map<string, Bucket>();
  const throttled = new Map<string, number>();
  const forwarded = new Map<string, number>();
  let unknownAccount = 0;
  const proxy = await startFaultProxy(target);

  /** Takes a token from the call's bucket; false when it is empty (the call is throttled). */
  const admit = (call: Call): boolean => {
    if (call.accountId === 'unknown') unknownAccount += 1;
    const limit = limits.find((l) => matches(l, call));
    if (!limit) return true;
    const key = `${limit.name} ${call.accountId} ${call.region}`;
    const t = now();
    const bucket = buckets.get(key) ?? { tokens: limit.capacity, at: t };
    bucket.tokens = Math.min(limit.capacity, bucket.tokens + ((t - bucket.at) / 1000) * limit.refillPerSecond);
    bucket.at = t;
    buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };

  const count = (map: Map<string, number>, operation: string) => map.set(operation, (map.get(operation) ?? 0) + 1);

  for (const [service, fault] of Object.entries(THROTTLING)) {
    proxy.inject({
      service,
      fault,
      when: (call) => {
        const ok = admit(call);
        count(ok ? forwarded : throttled, call.operation);
        return !ok;
      },
    });
  }
  // Everything else (STS, Organizations, S3, …) is forwarded unlimited and counted here.
  proxy.inject({
    when: (call) => {
      if (!(call.service in THROTTLING)) count(forwarded, call.operation);
      // The fault proxy keeps every call it sees; a long benchmark needs none of them.
      if (proxy.calls.length > 1000) proxy.calls.length = 0;
      return false;
    },
    fault: 'throttle',
  });

  const sorted = (map: Map<string, number>) => Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b)));
  return {
    endpoint: proxy.endpoint,
    throttled: () => sorted(throttled),
    forwarded: () => sorted(forwarded),
    unknownAccountCalls: () => unknownAccount,
    resetCounts: () => {
      throttled.clear();
      forwarded.clear();
      unknownAccount = 0;
    },
    resetBuckets: () => buckets.clear(),
    close: () => proxy.close(),
  };
};

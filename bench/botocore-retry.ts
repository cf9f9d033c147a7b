// Cloud Custodian's retries, for the Custodian model (bench/custodian.ts): boto3's default
// `legacy` retry mode inside, and, around the calls Custodian wraps in `manager.retry`,
// c7n's own exponential retry outside. As an SDK v3 retry strategy, so that the bench's
// call counter still counts one call per send() while the proxy sees every attempt.
import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

/** botocore/data/_retry.json `__default__`: 5 attempts, `rand × 2^(attempt−1)` seconds between them. */
const LEGACY_ATTEMPTS = 5;

/**
 * What legacy mode retries (_retry.json): throttling codes on 400, any 429, 500, 503 (EC2's
 * RequestLimitExceeded), 509, and connection errors (no status).
 */
const legacyRetries = (info: RetryErrorInfo): boolean => {
  const status = info.error?.$metadata?.httpStatusCode;
  if (status === undefined) return info.errorType === 'TRANSIENT';
  if ([429, 500, 503, 509].includes(status)) return true;
  return status === 400 && ['Throttling', 'ThrottlingException'].includes(info.error?.name ?? '');
};

/** c7n/query.py QueryResourceManager.retry: the codes `manager.retry` retries. */
export const MANAGER_RETRY_CODES: readonly string[] = [
  'Client.RequestLimitExceeded',
  'InternalServerException',
  'RequestLimitExceeded',
  'Throttled',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
];

/** c7n/utils.py get_retry(): 8 attempts, 1, 2, 4 … seconds apart, less up to a fifth of jitter. */
const MANAGER_ATTEMPTS = 8;

export interface CustodianRetry {
  /** The codes c7n's outer retry retries once botocore gave up; empty: the call is not wrapped. */
  outerCodes: readonly string[];
  /** [0, 1); injectable so that a test can fix the schedule. */
  random?: () => number;
}

interface Token extends RetryToken {
  inner: number;
  outer: number;
}

const token = (inner: number, outer: number, delayMs: number): Token => ({
  inner,
  outer,
  getRetryCount: () => outer * LEGACY_ATTEMPTS + inner,
  getRetryDelay: () => delayMs,
});

/** The delay before the next attempt, or undefined when Custodian gives up on this error. */
export const nextAttempt = (at: { inner: number; outer: number }, info: RetryErrorInfo, options: CustodianRetry): Token | undefined => {
  const random = options.random ?? Math.random;
  if (legacyRetries(info) && at.inner < LEGACY_ATTEMPTS - 1) {
    return token(at.inner + 1, at.outer, random() * 2 ** at.inner * 1000);
  }
  // botocore raised: c7n retries the whole call (another five botocore attempts) on its codes.
  if (options.outerCodes.includes(info.error?.name ?? '') && at.outer < MANAGER_ATTEMPTS - 1) {
    const seconds = 2 ** at.outer;
    return token(0, at.outer + 1, (seconds - (seconds * random()) / 5) * 1000);
  }
  return undefined;
};

export const custodianRetry = (options: CustodianRetry): RetryStrategyV2 => ({
  acquireInitialRetryToken: async () => token(0, 0, 0),
  refreshRetryTokenForRetry: async (current, info) => {
    const at = current as Token;
    const next = nextAttempt(at, info, options);
    if (!next) throw info.error ?? new Error('not retried');
    return next;
  },
  recordSuccess: () => undefined,
});

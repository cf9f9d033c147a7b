// The Custodian model's retry schedule: boto3's legacy mode (5 attempts, rand × 2^n s apart)
// inside c7n's manager.retry (8 attempts, 1, 2, 4 … s less a fifth of jitter) where c7n wraps the call.
import type { RetryErrorInfo } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { MANAGER_RETRY_CODES, nextAttempt, type CustodianRetry } from '../../bench/botocore-retry.ts';

const error = (name: string, status: number): RetryErrorInfo => ({
  errorType: status === 429 || name.includes('Limit') || name.includes('Throttl') ? 'THROTTLING' : 'CLIENT_ERROR',
  error: { name, message: name, $fault: 'client', $metadata: { httpStatusCode: status } },
});

/** Every delay (ms) before giving up on an error that keeps coming back. */
const schedule = (info: RetryErrorInfo, options: CustodianRetry): number[] => {
  const delays: number[] = [];
  let at = { inner: 0, outer: 0 };
  for (let next = nextAttempt(at, info, options); next; next = nextAttempt(at, info, options)) {
    delays.push(next.getRetryDelay());
    at = next;
  }
  return delays;
};

const half = () => 0.5;

describe('the Custodian model retries', () => {
  it('a call c7n does not wrap (GetMetricStatistics) as botocore legacy mode alone: 5 attempts', () => {
    expect(schedule(error('Throttling', 400), { outerCodes: [], random: half })).toEqual([500, 1000, 2000, 4000]);
  });

  it('a call manager.retry wraps (BatchImportFindings) 8 times over 5 botocore attempts: 40 attempts', () => {
    const delays = schedule(error('TooManyRequestsException', 429), { outerCodes: MANAGER_RETRY_CODES, random: half });
    expect(delays).toHaveLength(39);
    // After the fifth botocore attempt, c7n waits 1 s, then 2 s, … less a tenth here (jitter 0.5 / 5).
    expect(delays.slice(0, 6)).toEqual([500, 1000, 2000, 4000, 900, 500]);
    expect(delays.filter((_, n) => n % 5 === 4)).toEqual([900, 1800, 3600, 7200, 14_400, 28_800, 57_600]);
  });

  it.each([
    ['EC2 RequestLimitExceeded (503): both layers', error('RequestLimitExceeded', 503), 39],
    ['ThrottledException on 400: botocore gives up at once, c7n retries', error('ThrottledException', 400), 7],
    ['AccessDenied (403): neither', error('AccessDenied', 403), 0],
  ])('a wrapped call that meets %s', (_, info, retries) => {
    expect(schedule(info, { outerCodes: MANAGER_RETRY_CODES, random: half })).toHaveLength(retries);
  });
});

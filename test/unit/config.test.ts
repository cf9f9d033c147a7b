import { describe, expect, it } from 'vitest';
import { readEnvironment, readLambdaEnvironment } from '../../functions/app/config.ts';

describe('environment', () => {
  it('abandons a stalled AWS call after 30 s unless told otherwise', () => {
    expect(readEnvironment({}).requestTimeoutMs).toBe(30_000);
    expect(readEnvironment({ AWS_REQUEST_TIMEOUT_MS: '1500' }).requestTimeoutMs).toBe(1500);
  });

  it.each(['soon', '0', '-5', '3600000'])('refuses AWS_REQUEST_TIMEOUT_MS=%s, naming the variable', (value) => {
    expect(() => readEnvironment({ AWS_REQUEST_TIMEOUT_MS: value })).toThrow(/invalid environment: AWS_REQUEST_TIMEOUT_MS/);
  });

  it('reads the Slack webhook secret ARN, and treats an empty one (an unset CloudFormation parameter) as absent', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:imds-remediator/slack-AbCdEf';
    expect(readEnvironment({ SLACK_WEBHOOK_SECRET_ARN: arn }).slack).toEqual({ secretArn: arn, region: 'eu-west-1' });
    expect(readEnvironment({ SLACK_WEBHOOK_SECRET_ARN: '', SLACK_WEBHOOK_URL: '' }).slack).toBeUndefined();
  });

  it('waits 30 s for a held lease unless LEASE_WAIT_SECONDS says otherwise, and refuses a wait outside 0-600 s by name', () => {
    expect(readLambdaEnvironment({}).leaseWaitMs).toBe(30_000);
    expect(readLambdaEnvironment({ LEASE_WAIT_SECONDS: '0' }).leaseWaitMs).toBe(0);
    for (const value of ['soon', '-1', '601']) {
      expect(() => readLambdaEnvironment({ LEASE_WAIT_SECONDS: value }), value).toThrow(/invalid environment: LEASE_WAIT_SECONDS: /);
    }
  });
});

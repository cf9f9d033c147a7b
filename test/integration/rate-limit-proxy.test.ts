// The benchmark's rate-limit proxy: AWS's per-account-region buckets on the loopback, answered
// with each service's own throttling error, through the real SDK clients and moto_server.
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeInstancesCommand, EC2Client, ModifyInstanceMetadataOptionsCommand } from '@aws-sdk/client-ec2';
import { GetFindingsCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, describe, expect, it } from 'vitest';
import { startRateLimitProxy, type RateLimitProxy } from '../../bench/rate-limit-proxy.ts';
import { endpoint, useMoto } from '../support/moto.ts';

useMoto();

let proxy: RateLimitProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

/** A clock that never moves: a bucket spent stays empty, so counts are exact on a loaded machine. */
const frozen = () => 0;

const clients = (at: string, region = 'us-east-1', maxAttempts = 1) => ({
  ec2: new EC2Client({ endpoint: at, region, maxAttempts }),
  cloudwatch: new CloudWatchClient({ endpoint: at, region, maxAttempts }),
  securityhub: new SecurityHubClient({ endpoint: at, region, maxAttempts }),
});

/** Sends n calls one after another; what each one threw (its error name), or 'ok'. */
const outcomes = async (n: number, send: () => Promise<unknown>) => {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    names.push(await send().then(
      () => 'ok',
      (error: Error & { $metadata?: { httpStatusCode?: number } }) => `${error.name} ${error.$metadata?.httpStatusCode}`,
    ));
  }
  return names;
};

describe('rate-limit proxy', () => {
  it('answers the 101st DescribeInstances of an account-region with EC2 RequestLimitExceeded (503), and leaves other regions their own bucket', async () => {
    proxy = await startRateLimitProxy(endpoint(), { now: frozen });
    const east = clients(proxy.endpoint, 'us-east-1');
    const west = clients(proxy.endpoint, 'us-west-2');
    const answers = await outcomes(101, () => east.ec2.send(new DescribeInstancesCommand({ MaxResults: 5 })));
    expect(answers.slice(0, 100).every((a) => a === 'ok')).toBe(true);
    expect(answers[100]).toBe('RequestLimitExceeded 503');
    expect(await outcomes(1, () => west.ec2.send(new DescribeInstancesCommand({ MaxResults: 5 })))).toEqual(['ok']);
    expect(proxy.throttled()).toEqual({ DescribeInstances: 1 });
    expect(proxy.forwarded().DescribeInstances).toBe(101);
  });

  it('gives ModifyInstanceMetadataOptions its own bucket, apart from the non-mutating one', async () => {
    proxy = await startRateLimitProxy(endpoint(), {
      now: frozen,
      limits: [
        { name: 'modify', service: 'ec2', operations: ['ModifyInstanceMetadataOptions'], capacity: 2, refillPerSecond: 5, source: 'test' },
        { name: 'read', service: 'ec2', operations: (op) => op.startsWith('Describe'), capacity: 1, refillPerSecond: 20, source: 'test' },
      ],
    });
    const { ec2 } = clients(proxy.endpoint);
    const modify = () => ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: 'i-0123456789abcdef0', HttpTokens: 'required' }));
    // moto answers the first two (the instance does not exist); the third never reaches it.
    const answers = await outcomes(3, modify);
    expect(answers.slice(0, 2).every((a) => !a.startsWith('RequestLimitExceeded'))).toBe(true);
    expect(answers[2]).toBe('RequestLimitExceeded 503');
    expect(await outcomes(2, () => ec2.send(new DescribeInstancesCommand({ MaxResults: 5 })))).toEqual(['ok', 'RequestLimitExceeded 503']);
  });

  it('answers Security Hub GetFindings past its burst of 6 with TooManyRequestsException (429)', async () => {
    proxy = await startRateLimitProxy(endpoint(), { now: frozen });
    const { securityhub } = clients(proxy.endpoint);
    const answers = await outcomes(7, () => securityhub.send(new GetFindingsCommand({ MaxResults: 1 })));
    expect(answers[6]).toBe('TooManyRequestsException 429');
    expect(answers.slice(0, 6).some((a) => a.startsWith('TooManyRequests'))).toBe(false);
  });

  it('answers CloudWatch GetMetricData past 50 in a second with Throttling', async () => {
    proxy = await startRateLimitProxy(endpoint(), { now: frozen });
    const { cloudwatch } = clients(proxy.endpoint);
    const query = {
      MetricDataQueries: [{ Id: 'q', MetricStat: { Metric: { Namespace: 'AWS/EC2', MetricName: 'MetadataNoToken' }, Period: 86400, Stat: 'Sum' } }],
      StartTime: new Date(Date.now() - 86_400_000),
      EndTime: new Date(),
    };
    const answers = await outcomes(51, () => cloudwatch.send(new GetMetricDataCommand(query)));
    expect(answers.slice(0, 50).every((a) => a === 'ok')).toBe(true);
    expect(answers[50]).toBe('Throttling 400');
  });

  it('refills at the published rate, and counts the throttled calls until resetCounts()', async () => {
    let now = 0;
    proxy = await startRateLimitProxy(endpoint(), {
      now: () => now,
      limits: [{ name: 'findings', service: 'securityhub', operations: ['GetFindings'], capacity: 1, refillPerSecond: 3, source: 'test' }],
    });
    const { securityhub } = clients(proxy.endpoint, 'us-east-1', 1);
    expect(await outcomes(2, () => securityhub.send(new GetFindingsCommand({ MaxResults: 1 })))).toEqual(['ok', 'TooManyRequestsException 429']);
    now += 334; // one token at 3 a second
    expect(await outcomes(2, () => securityhub.send(new GetFindingsCommand({ MaxResults: 1 })))).toEqual(['ok', 'TooManyRequestsException 429']);
    expect(proxy.throttled()).toEqual({ GetFindings: 2 });
    proxy.resetBuckets();
    proxy.resetCounts();
    expect(await outcomes(1, () => securityhub.send(new GetFindingsCommand({ MaxResults: 1 })))).toEqual(['ok']);
    expect(proxy.throttled()).toEqual({});
  });

  it('keeps a bucket per account: learned from the AssumeRole answers that pass through it, and unknown ones counted', async () => {
    proxy = await startRateLimitProxy(endpoint(), {
      now: frozen,
      limits: [{ name: 'read', service: 'ec2', operations: ['DescribeInstances'], capacity: 1, refillPerSecond: 20, source: 'test' }],
    });
    const assume = async (at: string, accountId: string) => {
      const out = await new STSClient({ endpoint: at, region: 'us-east-1' }).send(
        new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/ImdsRemediatorMemberRole`, RoleSessionName: 'test' }),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('AssumeRole returned no credentials');
      return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
    };
    const describe = (credentials: Awaited<ReturnType<typeof assume>>) =>
      outcomes(2, () => new EC2Client({ endpoint: proxy?.endpoint, region: 'us-east-1', maxAttempts: 1, credentials }).send(new DescribeInstancesCommand({ MaxResults: 5 })));

    const a = await assume(proxy.endpoint, '111111111111');
    const b = await assume(proxy.endpoint, '222222222222');
    expect(await describe(a)).toEqual(['ok', 'RequestLimitExceeded 503']);
    // Account B's bucket is its own: spending A's left it full.
    expect(await describe(b)).toEqual(['ok', 'RequestLimitExceeded 503']);
    expect(proxy.unknownAccountCalls()).toBe(0);

    // Credentials from an AssumeRole the proxy never saw: their account is unknown, and said so.
    const unseen = await assume(endpoint(), '333333333333');
    await describe(unseen);
    expect(proxy.unknownAccountCalls()).toBe(2);
  });
});

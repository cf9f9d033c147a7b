import { describe, expect, it } from 'vitest';
import { EventError, parseInstanceEvent, UntrustedEventError } from '../../functions/events/instance-event.ts';
import { fixture } from '../support/events.ts';

const problems = (raw: unknown): string => {
  try {
    parseInstanceEvent(raw);
  } catch (error) {
    if (error instanceof EventError) return error.problems.join('\n');
    throw error;
  }
  throw new Error('event was accepted');
};

describe('reading CloudTrail events', () => {
  it('reads the launched instance ids, account, region and actor from a RunInstances event', () => {
    expect(parseInstanceEvent(fixture('run-instances'))).toEqual({
      kind: 'launch',
      accountId: '111122223333',
      region: 'us-east-1',
      instanceIds: ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'],
      actor: 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice@example.com',
      eventId: 'f3d1b2a4-6c7e-4f80-9a1b-2c3d4e5f6a7b',
    });
  });

  it('reads a ModifyInstanceMetadataOptions that re-opened IMDSv1 as drift, naming who did it', () => {
    expect(parseInstanceEvent(fixture('modify-instance-metadata-options'))).toMatchObject({
      kind: 'drift',
      instanceIds: ['i-0bbbbbbbbbbbbbbb1'],
      actor: 'arn:aws:sts::111122223333:assumed-role/Developer/bob@example.com',
    });
  });

  it('repeats the caller only when it is a well-formed IAM or STS ARN', () => {
    const forged = fixture('modify-instance-metadata-options');
    (forged.detail as Record<string, unknown>).userIdentity = { type: 'AssumedRole', arn: '<!channel> *click here* https://evil.example' };
    expect(parseInstanceEvent(forged)).toMatchObject({ kind: 'drift', actor: 'an unrecognized caller' });
    const byService = fixture('run-instances');
    (byService.detail as Record<string, unknown>).userIdentity = { type: 'AWSService', invokedBy: 'autoscaling.amazonaws.com' };
    expect(parseInstanceEvent(byService)).toMatchObject({ actor: 'autoscaling.amazonaws.com' });
  });

  const withDetail = (name: string, change: Record<string, unknown>, envelope: Record<string, unknown> = {}) => {
    const event = fixture(name);
    return { ...event, ...envelope, detail: { ...(event.detail as object), ...change } };
  };

  it.each([
    ['an envelope of one account whose detail names another', withDetail('run-instances', {}, { account: '999999999999' }), 'detail.recipientAccountId: 111122223333 is not the account the event came from (account 999999999999)'],
    ['a detail of another region than the envelope', withDetail('run-instances', { awsRegion: 'eu-west-1' }), 'detail.awsRegion: eu-west-1 is not the region the event came from (region us-east-1)'],
    [
      'a caller of another account',
      withDetail('modify-instance-metadata-options', { userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::444455556666:assumed-role/Admin/eve' } }),
      'detail.userIdentity.arn: a caller of account 444455556666 cannot launch or change an instance of account 111122223333',
    ],
    [
      'an IAM user of another account, even with a malformed name',
      withDetail('run-instances', { userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::444455556666:user/<eve>' } }),
      'detail.userIdentity.arn: a caller of account 444455556666',
    ],
  ])('rejects %s as untrusted, naming the field', (_, event, problem) => {
    expect(() => parseInstanceEvent(event)).toThrow(UntrustedEventError);
    expect(problems(event)).toContain(problem);
  });

  it('accepts an AWS service acting for the account, and a detail without recipientAccountId', () => {
    const byService = withDetail('run-instances', { userIdentity: { type: 'AWSService', invokedBy: 'autoscaling.amazonaws.com' }, recipientAccountId: undefined });
    expect(parseInstanceEvent(byService)).toMatchObject({ kind: 'launch', accountId: '111122223333', actor: 'autoscaling.amazonaws.com' });
  });

  it('ignores a call that failed (errorCode), saying why', () => {
    expect(parseInstanceEvent(fixture('run-instances-failed'))).toMatchObject({
      kind: 'ignored',
      reason: expect.stringMatching(/RunInstances failed \(Client.InstanceLimitExceeded\)/),
    });
  });

  it('ignores a non-EC2 event and other EC2 event names', () => {
    expect(parseInstanceEvent(fixture('s3-put-bucket-policy'))).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/not an EC2/) });
    const stop = fixture('run-instances');
    (stop.detail as Record<string, unknown>).eventName = 'StopInstances';
    expect(parseInstanceEvent(stop)).toMatchObject({ kind: 'ignored', reason: 'event StopInstances is not handled' });
  });

  it('ignores our own ModifyInstanceMetadataOptions (HttpTokens required)', () => {
    const event = fixture('modify-instance-metadata-options');
    const detail = event.detail as Record<string, unknown>;
    detail.requestParameters = { ModifyInstanceMetadataOptionsRequest: { InstanceId: 'i-0bbbbbbbbbbbbbbb1', HttpTokens: 'required' } };
    expect(parseInstanceEvent(event)).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/did not re-open IMDSv1/) });
  });

  it('accepts the flat camelCase request form too', () => {
    const event = fixture('modify-instance-metadata-options');
    (event.detail as Record<string, unknown>).requestParameters = { instanceId: 'i-0bbbbbbbbbbbbbbb1', httpTokens: 'optional' };
    expect(parseInstanceEvent(event)).toMatchObject({ kind: 'drift', instanceIds: ['i-0bbbbbbbbbbbbbbb1'] });
  });

  it.each([
    [null, '(event)'],
    [{ source: 'aws.ec2' }, 'account'],
    [{ ...fixture('run-instances'), account: '12' }, 'account: must be a 12-digit account id'],
    [{ ...fixture('run-instances'), detail: { ...(fixture('run-instances').detail as object), awsRegion: 'moon-1' } }, 'detail.awsRegion: must be a region name'],
  ])('rejects a malformed envelope %#, naming the field', (raw, field) => {
    expect(problems(raw)).toContain(field);
  });

  it('rejects a RunInstances event whose instance id is not an instance id', () => {
    const event = fixture('run-instances');
    const detail = event.detail as { responseElements: { instancesSet: { items: Array<{ instanceId: string }> } } };
    detail.responseElements.instancesSet.items = [{ instanceId: 'i-0aaaaaaaaaaaaaaa1' }, { instanceId: '../../etc/passwd' }];
    expect(problems(event)).toBe('detail.responseElements.instancesSet.items[1].instanceId: must be an instance id like i-0123456789abcdef0');
  });

  it('rejects a RunInstances event with no instances in its response', () => {
    const event = fixture('run-instances');
    (event.detail as Record<string, unknown>).responseElements = { instancesSet: { items: [] } };
    expect(problems(event)).toContain('detail.responseElements.instancesSet.items: lists no instance');
  });
});

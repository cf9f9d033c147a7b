// The rules' event patterns, matched by moto's EventBridge (its TestEventPattern is a stub, so
// each case goes through PutRule → PutTargets(SQS) → PutEvents → ReceiveMessage).
import { readFileSync } from 'node:fs';
import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { readYamlTemplate } from '../support/cfn.ts';
import { useMoto } from '../support/moto.ts';

useMoto();

interface CloudTrailEvent {
  source: string;
  'detail-type': string;
  account: string;
  region: string;
  detail: Record<string, unknown>;
}

const fixture = (name: string) => JSON.parse(readFileSync(`test/fixtures/events/${name}`, 'utf8')) as CloudTrailEvent;
const RUN_INSTANCES = fixture('run-instances.json');
const MODIFY_METADATA_OPTIONS = fixture('modify-instance-metadata-options.json');
const S3_EVENT = fixture('s3-put-bucket-policy.json');
const EC2_STOP_INSTANCES = { ...RUN_INSTANCES, detail: { ...RUN_INSTANCES.detail, eventName: 'StopInstances' } };

// serverless.yml's rule comes from infra/central/events.yml; the generated template is checked
// against it in central-template.test.ts (and member-events.yml against that).
const patterns = {
  central: readYamlTemplate('infra/central/events.yml').Resources.InstanceEventRule?.Properties.EventPattern,
  member: readYamlTemplate('infra/member-events.yml').Resources.ForwardInstanceEvents?.Properties.EventPattern,
};

/** The events (by eventName) that a rule with this pattern delivers, on a fresh bus. */
const delivered = async (pattern: unknown, events: CloudTrailEvent[]): Promise<string[]> => {
  const eventBridge = new EventBridgeClient({});
  const sqs = new SQSClient({});
  const bus = 'imds-remediator-test';
  await eventBridge.send(new CreateEventBusCommand({ Name: bus }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'matched' }));
  const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn'] }));
  await eventBridge.send(new PutRuleCommand({ Name: 'instance-events', EventBusName: bus, EventPattern: JSON.stringify(pattern) }));
  await eventBridge.send(
    new PutTargetsCommand({ Rule: 'instance-events', EventBusName: bus, Targets: [{ Id: 'queue', Arn: attributes.Attributes?.QueueArn }] }),
  );

  const put = await eventBridge.send(
    new PutEventsCommand({
      Entries: events.map((e) => ({ EventBusName: bus, Source: e.source, DetailType: e['detail-type'], Detail: JSON.stringify(e.detail) })),
    }),
  );
  expect(put.FailedEntryCount).toBe(0);

  const names: string[] = [];
  for (;;) {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!out.Messages?.length) break;
    for (const m of out.Messages) names.push(String((JSON.parse(m.Body ?? '{}') as CloudTrailEvent).detail.eventName));
  }
  return names.sort();
};

describe.each(Object.entries(patterns))('the %s rule', (_, pattern) => {
  it('delivers RunInstances and ModifyInstanceMetadataOptions CloudTrail events', async () => {
    expect(await delivered(pattern, [RUN_INSTANCES, MODIFY_METADATA_OPTIONS])).toEqual(['ModifyInstanceMetadataOptions', 'RunInstances']);
  });

  it('ignores other services and other EC2 calls', async () => {
    expect(await delivered(pattern, [S3_EVENT, EC2_STOP_INSTANCES])).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { readYamlTemplate } from '../support/cfn.ts';

const template = readYamlTemplate('infra/member-events.yml');
const resource = (id: string) => {
  const found = template.Resources[id];
  if (!found) throw new Error(`infra/member-events.yml has no ${id}`);
  return found;
};

describe('member event forwarding (infra/member-events.yml)', () => {
  it('alarms on the first event waiting in the dead-letter queue, notifying the topic only when one is given', () => {
    const alarm = resource('ForwardDeadLetterAlarm').Properties;

    expect(alarm).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ForwardDeadLetterQueue', 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      // A queue nobody calls may stop reporting: that must not clear the alarm.
      TreatMissingData: 'ignore',
      AlarmActions: { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] },
    });
    expect(template.Conditions?.HasAlarmTopic).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }] });
    expect(template.Parameters?.AlarmTopicArn).toMatchObject({ Default: '' });
    expect(resource('ForwardInstanceEvents').Properties.Targets).toEqual([
      expect.objectContaining({ DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['ForwardDeadLetterQueue', 'Arn'] } } }),
    ]);
  });
});

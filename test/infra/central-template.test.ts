import { readdirSync, statSync } from 'node:fs';
// The template osls generates from serverless.yml, read as CloudFormation will read it.
import { execFileSync } from 'node:child_process';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLOUDWATCH_IAM_ACTIONS } from '../../functions/adapters/cloudwatch.ts';
import { EC2_IAM_ACTIONS } from '../../functions/adapters/ec2.ts';
import { LAUNCH_TEMPLATE_IAM_ACTIONS } from '../../functions/adapters/ec2-launch-templates.ts';
import { AUTOSCALING_IAM_ACTIONS } from '../../functions/adapters/autoscaling.ts';
import { ORGANIZATIONS_IAM_ACTIONS } from '../../functions/adapters/organizations.ts';
import { S3_IAM_ACTIONS } from '../../functions/adapters/s3.ts';
import { S3_LEASE_IAM_ACTIONS } from '../../functions/adapters/s3-lease.ts';
import { SSM_IAM_ACTIONS } from '../../functions/adapters/ssm.ts';
import { motoEnvironment } from '../../local/moto-server.ts';
import { actionsOf, asArray, packageAndReadTemplate, readYamlTemplate, resolveConditions, roleStatements, type Json, type Statement, type Template } from '../support/cfn.ts';
import { decision, substitute, type Request } from '../support/iam.ts';
import { endpoint, useMoto } from '../support/moto.ts';
import { seedOrganization } from '../support/scenario.ts';
import { SECURITYHUB_IAM_ACTIONS } from '../../functions/adapters/securityhub.ts';
import { requiredShardMemoryMb } from '../../bench/shard-memory.ts';

const { aws } = useMoto();

const MEMBER_ACCOUNT_ACTIONS = [...EC2_IAM_ACTIONS, ...LAUNCH_TEMPLATE_IAM_ACTIONS, ...AUTOSCALING_IAM_ACTIONS, ...CLOUDWATCH_IAM_ACTIONS, ...SECURITYHUB_IAM_ACTIONS];

/** Every action a role of the central stack may hold: the adapters' constants plus the plumbing. */
const ALLOWED_ACTIONS = new Set<string>([
  ...MEMBER_ACCOUNT_ACTIONS, // the central account is swept with the functions' own roles
  ...ORGANIZATIONS_IAM_ACTIONS,
  ...SSM_IAM_ACTIONS,
  ...S3_IAM_ACTIONS, // the sweep bucket: sweep-plan writes the Map's items, sweep-report reads its results
  ...S3_LEASE_IAM_ACTIONS, // and sweep-shard and on-instance-event hold the account-regions' leases
  's3:ListMultipartUploadParts', // the Map's ResultWriter, which may upload a large result file in parts
  's3:AbortMultipartUpload',
  'sts:AssumeRole',
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'secretsmanager:GetSecretValue',
  'lambda:InvokeFunction',
  'states:StartExecution',
  'states:DescribeExecution',
  'states:StopExecution',
  'sqs:SendMessage', // on-instance-event's on-failure destination: its dead-letter queue
  'kms:Decrypt', // only with a customer-managed key, through S3, SQS or Secrets Manager
  'kms:GenerateDataKey',
]);

const MEMBER_ROLE_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::*:role/ImdsRemediatorMemberRole' };
const PLAN_ROLE_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::*:role/ImdsRemediatorPlanRole' };
const ORG_ID = 'o-exampleorg1'; // what `npm run package` passes as orgId

let template: Template;
beforeAll(() => {
  template = packageAndReadTemplate();
}, 120_000);

const resource = (id: string) => {
  const found = template.Resources[id];
  if (!found) throw new Error(`the template has no ${id}`);
  return found;
};

describe('central template (osls package)', () => {
  it('fans the sweep out with a Distributed Map of bounded concurrency, retrying throttled Lambda calls', () => {
    const definition = resource('SweepStateMachine').Properties.Definition as {
      StartAt: string;
      States: Record<string, Record<string, unknown>>;
    };
    const map = definition.States.Shards;

    expect(definition.StartAt).toBe('Plan');
    expect(map).toMatchObject({
      Type: 'Map',
      // The items and the results live in the sweep bucket: the state holds their keys only.
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: '${SweepBucket}', 'Key.$': '$.shardsKey' },
      },
      ResultWriter: { Resource: 'arn:aws:states:::s3:putObject', Parameters: { Bucket: '${SweepBucket}', Prefix: 'results' } },
      MaxConcurrency: 20,
      ToleratedFailurePercentage: 10,
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' } },
      Next: 'Report',
    });
    const shardTask = (map?.ItemProcessor as { States: Record<string, { Retry: Array<Record<string, unknown>> }> }).States.Shard;
    expect(shardTask?.Retry[0]).toMatchObject({ BackoffRate: 2, MaxAttempts: 6 });
    expect(shardTask?.Retry[0]?.ErrorEquals).toContain('Lambda.TooManyRequestsException');
    expect(map).not.toHaveProperty('ItemsPath');
    expect(resource('SweepStateMachine').Properties.DefinitionSubstitutions).toMatchObject({ SweepBucket: { Ref: 'SweepBucket' } });
  });

  it('invokes sweep-shard again from its cursor, with the digest so far, until it says the account-region is done', () => {
    const definition = resource('SweepStateMachine').Properties.Definition as { States: Record<string, { ItemProcessor?: Json }> };
    const { StartAt, States: child } = definition.States.Shards?.ItemProcessor as { StartAt: string; States: Record<string, Record<string, unknown>> };

    expect(StartAt).toBe('Shard');
    // The Task keeps its input (the Map's item) and puts the function's answer beside it.
    expect(child.Shard).toMatchObject({
      Type: 'Task',
      Parameters: { FunctionName: '${SweepShardArn}', 'Payload.$': '$' },
      ResultSelector: { 'step.$': '$.Payload' },
      ResultPath: '$.invocation',
      Next: 'ShardDone',
    });
    expect(child.ShardDone).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.invocation.step.done', BooleanEquals: false, Next: 'ShardContinues' }],
      Default: 'ShardSwept',
    });
    // The next invocation gets the same item, where the last one stopped, and what it reported.
    expect(child.ShardContinues).toEqual({
      Type: 'Pass',
      Parameters: { 'shard.$': '$.shard', 'apply.$': '$.apply', 'cursor.$': '$.invocation.step.cursor', 'sofar.$': '$.invocation.step' },
      Next: 'Shard',
    });
    // The child's output, which ResultWriter stores, is the account-region's one digest.
    expect(child.ShardSwept).toEqual({ Type: 'Pass', OutputPath: '$.invocation.step', End: true });
  });

  it("gives sweep-shard the memory the bench's measurements ask for at the largest shard, and Lambda's longest timeout", () => {
    const shard = resource('SweepDashshardLambdaFunction').Properties as { MemorySize: number; Timeout: number };

    expect(shard.MemorySize).toBeGreaterThanOrEqual(requiredShardMemoryMb());
    expect(shard.Timeout).toBe(900);
  });

  it('starts the sweep daily by cron at a configurable hour (06:00 UTC unless set), not relative to the deployment', () => {
    const schedule = resource('SweepSchedule').Properties;
    const hour = template.Parameters?.SweepScheduleHour as { Type: string; Default: number; MinValue: number; MaxValue: number };
    // What CloudFormation makes of the expression with the parameter's default.
    const expression = (schedule.ScheduleExpression as { 'Fn::Sub': string })['Fn::Sub'].replace('${SweepScheduleHour}', String(hour.Default));

    expect(expression).toBe('cron(0 6 * * ? *)');
    expect(hour).toMatchObject({ Type: 'Number', MinValue: 0, MaxValue: 23 });
    expect(schedule).toMatchObject({ ScheduleExpressionTimezone: { Ref: 'SweepScheduleTimezone' }, Target: { Arn: { Ref: 'SweepStateMachine' } } });
    expect(template.Parameters?.SweepScheduleTimezone).toMatchObject({ Type: 'String', Default: 'UTC' });
  });

  it('reports a failed Plan, Map or Report step to Slack through sweep-report, then fails the execution', () => {
    const { States: states } = resource('SweepStateMachine').Properties.Definition as { States: Record<string, Record<string, unknown>> };
    const catchTo = (next: string) => [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: next }];
    const failureReport = (failedStep: string, payload: Record<string, string>) => ({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: '${SweepReportArn}', Payload: { failedStep, 'failure.$': '$.failure', ...payload } },
      ResultSelector: { 'summary.$': '$.Payload.summary' },
      ResultPath: '$.failureReport',
      Next: 'SweepFailed',
    });
    const planAndMode = { 'apply.$': '$.apply', 'plan.$': '$.plan' };

    expect(states.Plan?.Catch).toEqual(catchTo('ReportPlanFailure'));
    expect(states.Shards?.Catch).toEqual(catchTo('ReportMapFailure'));
    expect(states.Report?.Catch).toEqual(catchTo('ReportReportFailure'));
    // A failed Plan has no plan summary or mode to pass on: the schema accepts that for Plan only.
    expect(states.ReportPlanFailure).toEqual(expect.objectContaining(failureReport('Plan', {})));
    expect(states.ReportMapFailure).toEqual(expect.objectContaining(failureReport('Shards', planAndMode)));
    expect(states.ReportReportFailure).toEqual(expect.objectContaining(failureReport('Report', planAndMode)));
    // The failure reports have no Catch of their own: if one fails, the execution fails with its error.
    for (const name of ['ReportPlanFailure', 'ReportMapFailure', 'ReportReportFailure']) expect(states[name], name).not.toHaveProperty('Catch');
    expect(states.SweepFailed).toMatchObject({ Type: 'Fail', ErrorPath: '$.failure.Error' });
  });

  it('alarms to one topic on a failed, timed-out or stopped sweep, failed shards, dead letters and any function error', () => {
    const alarms = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
    type MetricSpec = { Namespace: string; MetricName: string; Dimensions: Array<{ Name: string; Value: unknown }> };
    /** "namespace metric dimension=value" for every metric an alarm reads, directly or in its metric math. */
    const watched = (p: Record<string, Json>): string[] => {
      const metrics = p.Metrics
        ? (p.Metrics as Array<{ MetricStat?: { Metric: MetricSpec } }>).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric] : []))
        : [p as unknown as MetricSpec];
      return metrics.map((m) => `${m.Namespace} ${m.MetricName} ${m.Dimensions.map((d) => `${d.Name}=${JSON.stringify(d.Value)}`).join(',')}`);
    };
    const machine = JSON.stringify({ Ref: 'SweepStateMachine' });
    const { States: states } = resource('SweepStateMachine').Properties.Definition as { States: Record<string, { Label?: string }> };
    // Child executions of a Distributed Map report under <state machine ARN>/<Map Run label>.
    const children = JSON.stringify({ 'Fn::Sub': `\${SweepStateMachine}/${states.Shards?.Label}` });
    const functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function').map(([id]) => id);

    expect(alarms.flatMap(([, a]) => watched(a.Properties)).sort()).toEqual(
      [
        `AWS/States ExecutionsFailed StateMachineArn=${machine}`,
        `AWS/States ExecutionsTimedOut StateMachineArn=${machine}`,
        `AWS/States ExecutionsAborted StateMachineArn=${machine}`,
        `AWS/States ExecutionsFailed StateMachineArn=${children}`,
        `AWS/States ExecutionsTimedOut StateMachineArn=${children}`,
        `AWS/SQS ApproximateNumberOfMessagesVisible QueueName=${JSON.stringify({ 'Fn::GetAtt': ['InstanceEventDeadLetterQueue', 'QueueName'] })}`,
        ...functions.map((id) => `AWS/Lambda Errors FunctionName=${JSON.stringify({ Ref: id })}`),
      ].sort(),
    );
    expect(functions).toHaveLength(4);
    for (const [id, alarm] of alarms) {
      // The first failure is enough: a daily sweep has no noise to average out.
      expect(alarm.Properties, id).toMatchObject({ AlarmActions: [{ Ref: 'AlarmTopic' }], Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    }
    // The shard alarm adds the two child metrics, each 0 when absent.
    const shardAlarm = alarms.find(([, a]) => JSON.stringify(a.Properties).includes('/Shards'))?.[1].Properties;
    expect(shardAlarm?.Metrics).toEqual(expect.arrayContaining([expect.objectContaining({ Expression: 'FILL(failed, 0) + FILL(timedOut, 0)', ReturnData: true })]));
  });

  it('lets only CloudWatch of this account and of the organization publish alarms, over TLS, and e-mails them only when asked', () => {
    const statements = (resource('AlarmTopicPolicy').Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement;

    expect(resource('AlarmTopicPolicy').Properties.Topics).toEqual([{ Ref: 'AlarmTopic' }]);
    expect(statements).toEqual([
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } }),
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Condition: { StringEquals: { 'aws:SourceOrgID': ORG_ID } } }),
      expect.objectContaining({ Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    ]);
    expect(template.Resources.AlarmEmailSubscription).toMatchObject({
      Condition: 'HasAlarmEmail',
      Properties: { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' } },
    });
    expect(template.Conditions?.HasAlarmEmail).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmEmail' }, ''] }] });
    expect(template.Parameters?.AlarmEmail).toMatchObject({ Default: '' });
  });

  it('gives every function its own role, and every role only allow-listed actions, none wildcarded', () => {
    const roles = roleStatements(template);
    const functionRoles = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => JSON.stringify(r.Properties.Role));

    expect(new Set(functionRoles).size).toBe(4);
    for (const [role, statements] of roles) {
      for (const action of actionsOf(statements.filter((s) => s.Effect === 'Allow'))) {
        expect(action, `${role}: ${action}`).not.toContain('*');
        expect(ALLOWED_ACTIONS.has(action), `${role}: ${action} is not allow-listed`).toBe(true);
      }
    }
    expect(actionsOf(roles.get('SweepPlanRole') ?? [])).toEqual(expect.arrayContaining([...ORGANIZATIONS_IAM_ACTIONS]));
    expect(actionsOf(roles.get('SweepReportRole') ?? [])).not.toContain('sts:AssumeRole');
    expect(actionsOf(roles.get('OnInstanceEventRole') ?? [])).toContain('sqs:SendMessage');
  });

  it('can read the organization but never create, attach or change a policy in it: attaching the guardrails stays with a person', () => {
    const granted = [...roleStatements(template)].flatMap(([, statements]) => actionsOf(statements.filter((s) => s.Effect === 'Allow')));

    expect(granted.filter((a) => a.startsWith('organizations:'))).not.toEqual([]);
    expect(granted.filter((a) => /^organizations:(?!List|Describe)/.test(a) || a === 'ec2:ModifyInstanceMetadataDefaults')).toEqual([]);
  });

  it('reaches other accounts only through the member role, and plans through the read-only plan role, inside the organization', () => {
    const roles = roleStatements(template);
    const assumers = [...roles].filter(([, statements]) => actionsOf(statements).includes('sts:AssumeRole')).map(([role]) => role);

    expect(assumers.sort()).toEqual(['OnInstanceEventRole', 'SweepPlanRole', 'SweepShardRole']);
    for (const [role, statements] of roles) {
      const crossAccount = statements.filter((s) => JSON.stringify(s.Resource).includes(':iam::*:'));
      for (const s of crossAccount) {
        expect(s, role).toMatchObject({
          Action: 'sts:AssumeRole',
          Resource: role === 'SweepPlanRole' ? PLAN_ROLE_ARN : MEMBER_ROLE_ARN,
          Condition: { StringEquals: { 'aws:ResourceOrgID': ORG_ID } },
        });
      }
      // Anything on every resource is a read (or Security Hub import) of this account, never a change.
      for (const s of statements.filter((x) => x.Resource === '*')) {
        for (const action of asArray(s.Action)) expect(action, role).toMatch(/^(ec2:Describe|autoscaling:Describe|cloudwatch:Get|securityhub:|organizations:List)/);
      }
    }
  });

  it('keeps the sweep bucket private, encrypted, TLS-only and expiring, each role on its own prefix', () => {
    expect(resolveConditions(template).Resources.SweepBucket).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: { Rules: [{ Status: 'Enabled', ExpirationInDays: 30 }] },
      },
    });
    expect(resource('SweepBucketPolicy').Properties.PolicyDocument).toMatchObject({
      Statement: [
        { Effect: 'Deny', Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
        // Nobody but the plan decides what is swept, nobody but the Map what is reported.
        {
          Effect: 'Deny',
          Action: 's3:PutObject',
          Resource: { 'Fn::Sub': '${SweepBucket.Arn}/shards/*' },
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': ['SweepPlanRole', 'Arn'] } } },
        },
        {
          Effect: 'Deny',
          Action: 's3:PutObject',
          Resource: { 'Fn::Sub': '${SweepBucket.Arn}/results/*' },
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': ['SweepStateMachineRole', 'Arn'] } } },
        },
        // Nobody but the two functions that change instances decides which run may change an account-region.
        {
          Effect: 'Deny',
          Action: 's3:PutObject',
          Resource: { 'Fn::Sub': '${SweepBucket.Arn}/leases/*' },
          Condition: {
            ArnNotEquals: { 'aws:PrincipalArn': [{ 'Fn::GetAtt': ['SweepShardRole', 'Arn'] }, { 'Fn::GetAtt': ['OnInstanceEventRole', 'Arn'] }] },
          },
        },
        // Nobody deletes objects; the lifecycle expires them (S3's own action, not a request).
        { Effect: 'Deny', Principal: '*', Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'], Resource: { 'Fn::Sub': '${SweepBucket.Arn}/*' } },
      ],
    });
    const bucketStatements = (resource('SweepBucketPolicy').Properties.PolicyDocument as unknown as { Statement: Statement[] }).Statement;
    for (const principal of ['SweepPlanRole', 'SweepStateMachineRole', 'an administrator']) {
      const request = { action: 's3:DeleteObject', context: { 'aws:PrincipalArn': principal, 'aws:SecureTransport': 'true' } };
      expect(decision(bucketStatements, request), principal).toBe('denied');
    }
    const s3Rights = (role: string) =>
      (roleStatements(template).get(role) ?? [])
        .filter((st) => asArray(st.Action).some((a) => a.startsWith('s3:')))
        .map((st) => ({ actions: asArray(st.Action).sort(), resource: st.Resource }));
    const under = (prefix: string) => ({ 'Fn::Sub': `\${SweepBucket.Arn}/${prefix}/*` });

    expect(s3Rights('SweepPlanRole')).toEqual([{ actions: ['s3:PutObject'], resource: under('shards') }]);
    expect(s3Rights('SweepReportRole')).toEqual([
      { actions: ['s3:GetObject'], resource: under('results') },
      // The plan's OU tree, for the readiness per OU, and none of the Map's items.
      { actions: ['s3:GetObject'], resource: { 'Fn::Sub': '${SweepBucket.Arn}/shards/*.organization.json' } },
    ]);
    expect(s3Rights('SweepStateMachineRole')).toEqual([
      { actions: ['s3:GetObject'], resource: under('shards') },
      { actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'], resource: under('results') },
    ]);
    // The lease of an account-region: conditional writes are PutObject; nothing is deleted.
    for (const role of ['SweepShardRole', 'OnInstanceEventRole']) {
      expect(s3Rights(role), role).toEqual([{ actions: [...S3_LEASE_IAM_ACTIONS].sort(), resource: under('leases') }]);
    }
  });

  it('uses a customer-managed key, when one is given, for the bucket, the queue and the log groups, and lets exactly its users use it', () => {
    const key = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const slackSecret = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:imds-remediator/slack-webhook-AbCdEf';
    /** Each role's KMS grants: actions, and the service the key may be used through. */
    const grants = (t: Template) =>
      Object.fromEntries(
        [...roleStatements(t)]
          .map(([role, statements]) => [
            role,
            statements
              .filter((st) => asArray(st.Action).some((a) => a.startsWith('kms:')))
              .map((st) => ({ actions: asArray(st.Action).sort(), resource: st.Resource, via: st.Condition?.StringEquals?.['kms:ViaService'] })),
          ] as const)
          .filter(([, g]) => g.length > 0),
      );
    const through = (service: string) => ({ 'Fn::Sub': `${service}.\${AWS::Region}.amazonaws.com` });
    const onKey = (actions: string[], service: string) => ({ actions, resource: { Ref: 'KmsKeyArn' }, via: through(service) });
    const logGroups = (t: Template) => Object.values(t.Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');

    const withKey = resolveConditions(template, { KmsKeyArn: key, SlackSecretArn: slackSecret });
    expect(grants(withKey)).toEqual({
      SweepPlanRole: [onKey(['kms:GenerateDataKey'], 's3')],
      SweepShardRole: [onKey(['kms:Decrypt', 'kms:GenerateDataKey'], 's3')],
      SweepReportRole: [onKey(['kms:Decrypt'], 's3'), onKey(['kms:Decrypt'], 'secretsmanager')],
      OnInstanceEventRole: [onKey(['kms:Decrypt'], 'secretsmanager'), onKey(['kms:Decrypt', 'kms:GenerateDataKey'], 's3'), onKey(['kms:Decrypt', 'kms:GenerateDataKey'], 'sqs')],
      SweepStateMachineRole: [onKey(['kms:Decrypt', 'kms:GenerateDataKey'], 's3')],
    });
    expect(withKey.Resources.SweepBucket?.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { Ref: 'KmsKeyArn' } }, BucketKeyEnabled: true }],
    });
    expect(withKey.Resources.InstanceEventDeadLetterQueue?.Properties).toMatchObject({ KmsMasterKeyId: { Ref: 'KmsKeyArn' } });
    expect(withKey.Resources.InstanceEventDeadLetterQueue?.Properties).not.toHaveProperty('SqsManagedSseEnabled');
    expect(logGroups(withKey)).toHaveLength(4);
    for (const group of logGroups(withKey)) expect(group.Properties.KmsKeyId).toEqual({ Ref: 'KmsKeyArn' });
    // Without Slack, nobody decrypts a secret.
    expect(grants(resolveConditions(template, { KmsKeyArn: key })).SweepReportRole).toEqual([onKey(['kms:Decrypt'], 's3')]);

    // Without a key: AWS-managed encryption everywhere, and no KMS right at all.
    const withoutKey = resolveConditions(template, { SlackSecretArn: slackSecret });
    expect(grants(withoutKey)).toEqual({});
    expect(withoutKey.Resources.InstanceEventDeadLetterQueue?.Properties).toMatchObject({ SqsManagedSseEnabled: true });
    expect(withoutKey.Resources.InstanceEventDeadLetterQueue?.Properties).not.toHaveProperty('KmsMasterKeyId');
    for (const group of logGroups(withoutKey)) expect(group.Properties).not.toHaveProperty('KmsKeyId');
    expect(template.Parameters?.KmsKeyArn).toMatchObject({ Default: '' });
  });

  it('pins what the functions may write in the central account as the member role does, and tells sweep-plan its plan role', () => {
    const member = readYamlTemplate('infra/member-role.yml');
    const memberEnforce = (roleStatements(member).get('MemberRole') ?? []).find((st) => actionsOf([st]).includes('ec2:ModifyInstanceMetadataOptions'));
    for (const role of ['SweepShardRole', 'OnInstanceEventRole']) {
      const enforce = (roleStatements(template).get(role) ?? []).find((st) => actionsOf([st]).includes('ec2:ModifyInstanceMetadataOptions'));
      expect(enforce?.Condition, role).toEqual(memberEnforce?.Condition);
    }
    // The same parameter names, with the same defaults.
    for (const name of ['MinHopLimit', 'MaxHopLimit', 'AllowRevert', 'FixLaunchTemplates']) {
      expect((template.Parameters?.[name] as { Default: unknown }).Default, name).toEqual((member.Parameters?.[name] as { Default: unknown }).Default);
    }
    expect(resource('SweepDashplanLambdaFunction').Properties.Environment).toMatchObject({ Variables: { MEMBER_PLAN_ROLE_NAME: 'ImdsRemediatorPlanRole' } });
    expect((member.Parameters?.PlanRoleName as { Default: string }).Default).toBe('ImdsRemediatorPlanRole');
  });

  it('lets sweep-shard write launch templates of the central account only with FixLaunchTemplates=true, as the member role', () => {
    const shard = (FixLaunchTemplates: string) =>
      (roleStatements(resolveConditions(template, { FixLaunchTemplates })).get('SweepShardRole') ?? []).map(
        (st) => substitute(st as unknown as Json, { 'AWS::Partition': 'aws', 'AWS::AccountId': '111111111111' }) as unknown as Statement,
      );
    const templateArn = 'arn:aws:ec2:eu-west-1:111111111111:launch-template/lt-0123456789abcdef0';
    const writes: Request[] = [
      { action: 'ec2:CreateLaunchTemplateVersion', context: {}, resource: templateArn },
      { action: 'ec2:ModifyLaunchTemplate', context: {}, resource: templateArn },
      { action: 'ec2:CreateTags', context: { 'aws:TagKeys': ['imds-remediator:reason'] }, resource: templateArn },
    ];
    const read = { action: 'ec2:DescribeLaunchTemplateVersions', context: {} };

    expect((template.Parameters?.FixLaunchTemplates as { Default: unknown }).Default).toBe('false');
    for (const request of writes) {
      expect(decision(shard('false'), request), request.action).toBe('implicitly denied');
      expect(decision(shard('true'), request), request.action).toBe('allowed');
    }
    expect(decision(shard('false'), read)).toBe('allowed');
  });

  it('tells every function where the sweep bucket is, and the two that hold leases how long to wait for one', () => {
    const variables = (id: string) => (resource(id).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function').map(([id]) => id);

    expect(functions.sort()).toEqual(['OnDashinstanceDasheventLambdaFunction', 'SweepDashplanLambdaFunction', 'SweepDashreportLambdaFunction', 'SweepDashshardLambdaFunction']);
    for (const id of functions) expect(variables(id).SWEEP_BUCKET, id).toEqual({ Ref: 'SweepBucket' });
    // A shard may wait out a short event; an event is thrown back sooner, for Lambda to retry.
    expect(variables('SweepDashshardLambdaFunction').LEASE_WAIT_SECONDS).toBe('60');
    expect(variables('OnDashinstanceDasheventLambdaFunction').LEASE_WAIT_SECONDS).toBe('20');
  });

  it('keeps every function zip under the 1 MB bundle budget', () => {
    const zips = readdirSync('.serverless').filter((f) => f.endsWith('.zip'));
    expect(zips.sort()).toEqual(['on-instance-event.zip', 'sweep-plan.zip', 'sweep-report.zip', 'sweep-shard.zip']);
    for (const zip of zips) expect(statSync(`.serverless/${zip}`).size, zip).toBeLessThan(1024 * 1024);
  });

  it('gives the functions the Slack secret under the variable the code reads', () => {
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    for (const f of functions) {
      const variables = (f.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(variables)).toContain('SLACK_WEBHOOK_SECRET_ARN');
    }
  });

  it('accepts PutEvents on the central bus only from the member forwarding roles of the organization', () => {
    const policy = resource('CentralEventBusOrgPolicy').Properties;
    const statements = [substitute(policy.Statement ?? null, { 'AWS::Partition': 'aws' }) as unknown as Statement];
    const forwardPath = readYamlTemplate('infra/member-events.yml').Resources.ForwardRole?.Properties.Path;
    // What CloudFormation names the forwarding role of a StackSet instance: generated, under the path.
    const forwardRole = `arn:aws:iam::222222222222:role${String(forwardPath)}StackSet-imds-remediator-member-events-ForwardRole-1A2B3C4D`;
    const putEvents = (principalArn: string, orgId = ORG_ID) => ({
      action: 'events:PutEvents',
      context: { 'aws:PrincipalArn': principalArn, 'aws:PrincipalOrgID': orgId },
    });

    expect(policy.EventBusName).toEqual({ Ref: 'CentralEventBus' });
    expect(decision(statements, putEvents(forwardRole))).toBe('allowed');
    expect(decision(statements, putEvents('arn:aws:iam::222222222222:role/developer'))).toBe('implicitly denied');
    expect(decision(statements, putEvents('arn:aws:iam::222222222222:role/StackSet-x-ForwardRole-1A2B3C4D'))).toBe('implicitly denied');
    expect(decision(statements, putEvents(forwardRole, 'o-someoneelse'))).toBe('implicitly denied');
  });

  it('reserves on-instance-event a concurrency below the sweep fan-out, so that a flood of events is bounded', () => {
    const definition = resource('SweepStateMachine').Properties.Definition as { States: { Shards: { MaxConcurrency: number } } };
    const reserved = resource('OnDashinstanceDasheventLambdaFunction').Properties.ReservedConcurrentExecutions;

    expect(reserved).toBe(10);
    expect(reserved).toBeLessThan(definition.States.Shards.MaxConcurrency);
    // A throttled event waits for a retry (an hour at most), then lands in the dead-letter queue.
    expect(resolveConditions(template).Resources.OnDashinstanceDasheventLambdaEvConf?.Properties).toMatchObject({ MaximumEventAgeInSeconds: 3600 });
  });

  it('sends instance events to on-instance-event with retries and an encrypted dead-letter queue', () => {
    const rule = resource('InstanceEventRule').Properties;
    const [target] = rule.Targets as Array<Record<string, unknown>>;

    expect(rule.EventBusName).toEqual({ Ref: 'CentralEventBus' });
    expect(target).toMatchObject({
      Arn: { 'Fn::GetAtt': ['OnDashinstanceDasheventLambdaFunction', 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 8 },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': ['InstanceEventDeadLetterQueue', 'Arn'] } },
    });
    expect(resolveConditions(template).Resources.InstanceEventDeadLetterQueue?.Properties.SqsManagedSseEnabled).toBe(true);
    expect(resource('OnDashinstanceDasheventLambdaFunction').Properties.Handler).toBe('functions/handlers/on-instance-event.handler');
  });

  it('dead-letters an event the function accepted but kept failing on, after Lambda retries it', () => {
    // The rule's dead-letter queue only sees events EventBridge could not deliver.
    const invokeConfig = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && JSON.stringify(r.Properties.FunctionName).includes('OnDashinstanceDashevent'),
    );
    expect(invokeConfig?.Properties).toMatchObject({
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['InstanceEventDeadLetterQueue', 'Arn'] } } },
    });
  });

  it('forwards from member accounts with the same pattern the central rule matches', () => {
    const member = readYamlTemplate('infra/member-events.yml').Resources.ForwardInstanceEvents;

    expect(member?.Properties.EventPattern).toEqual(resource('InstanceEventRule').Properties.EventPattern);
    expect(member?.Properties.EventBusName).toBe('default');
  });

  it('runs arm64 nodejs24.x functions whose environment names the deployment mode and policy source', () => {
    for (const fn of Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function')) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Environment: { Variables: { SWEEP_MODE: 'plan', MEMBER_ROLE_NAME: 'ImdsRemediatorMemberRole', POLICY_FILE: 'policy.yaml' } },
      });
    }
  });
});

describe('packaged functions', () => {
  it('run from their zip: sweep-plan plans the organization with the bundled policy.yaml, into the sweep bucket', async () => {
    const { accounts } = await seedOrganization(aws(), ['alpha']);
    const bucket = 'imds-remediator-zip-test';
    await new S3Client({}).send(new CreateBucketCommand({ Bucket: bucket }));
    const taskRoot = mkdtempSync(join(tmpdir(), 'sweep-plan-zip-'));
    execFileSync('unzip', ['-q', '.serverless/sweep-plan.zip', '-d', taskRoot]);

    // A fresh node process, as Lambda starts one: only the zip's files and the function's environment.
    const script = `const { handler } = await import('${taskRoot}/functions/handlers/sweep-plan.mjs'); process.stdout.write(JSON.stringify(await handler({ source: 'schedule' })));`;
    const env = {
      PATH: process.env.PATH,
      ...motoEnvironment(endpoint()),
      LAMBDA_TASK_ROOT: taskRoot,
      SWEEP_MODE: 'apply',
      POLICY_FILE: 'policy.yaml',
      POLICY_SSM_PARAMETER: '',
      MEMBER_ROLE_NAME: 'ImdsRemediatorMemberRole',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      SWEEP_BUCKET: bucket,
    };
    let stdout: string;
    try {
      stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: taskRoot, encoding: 'utf8', env });
    } finally {
      rmSync(taskRoot, { recursive: true, force: true });
    }
    const output = JSON.parse(stdout) as { apply: boolean; shardsKey: string };
    const object = await new S3Client({}).send(new GetObjectCommand({ Bucket: bucket, Key: output.shardsKey }));
    const shards = JSON.parse((await object.Body?.transformToString()) ?? '[]') as Array<{ accountId: string; region: string }>;

    // policy.yaml is the reference of the defaults: mode report (so even SWEEP_MODE=apply
    // changes nothing) and every region enabled in each account.
    expect(output.apply).toBe(false);
    expect(output.shardsKey).toMatch(/^shards\/\d{4}-\d{2}-\d{2}\/[0-9a-f-]{36}\.json$/);
    const regionsOf = (accountId: string) => shards.filter((s) => s.accountId === accountId).map((s) => s.region).sort();
    expect(new Set(shards.map((s) => s.accountId))).toEqual(new Set(accounts));
    for (const accountId of accounts) expect(regionsOf(accountId)).toEqual(expect.arrayContaining(['eu-west-1', 'us-east-1']));
    expect(regionsOf(accounts[0] ?? '').length).toBeGreaterThan(2);
  });
});

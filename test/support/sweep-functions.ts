// The central functions in-process, with the environment serverless.yml gives them, for tests
// that chain them as the state machine does.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll } from 'vitest';
import type { PolicyInput } from '../../functions/domain/policy.ts';
import { startSlackReceiver, type SlackReceiver } from '../../local/slack-receiver.ts';

export const POLICY_PARAMETER = '/imds-remediator/policy';

export type Handler = (event: unknown, context?: { getRemainingTimeInMillis(): number }) => Promise<unknown>;

export interface SweepFunctions {
  plan: Handler;
  shard: Handler;
  report: Handler;
  event: Handler;
  /** Where SLACK_WEBHOOK_URL points. */
  slack: SlackReceiver;
}

/**
 * Sets the functions' environment (a deployment with `mode`, the policy in SSM, this sweep
 * bucket, Slack at a local receiver), then imports them: the logger and the report's
 * notifier read the environment once, when they are created. Ready from beforeAll on.
 */
export const useSweepFunctions = (mode: 'plan' | 'apply', bucket: string): SweepFunctions => {
  const functions = {} as SweepFunctions;
  beforeAll(async () => {
    functions.slack = await startSlackReceiver();
    Object.assign(process.env, {
      SLACK_WEBHOOK_URL: functions.slack.url(),
      SWEEP_MODE: mode,
      POLICY_SSM_PARAMETER: POLICY_PARAMETER,
      POLICY_FILE: 'policy.yaml',
      MEMBER_ROLE_NAME: 'ImdsRemediatorMemberRole',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      SWEEP_BUCKET: bucket,
    });
    const [plan, shard, report, event] = await Promise.all([
      import('../../functions/handlers/sweep-plan.ts'),
      import('../../functions/handlers/sweep-shard.ts'),
      import('../../functions/handlers/sweep-report.ts'),
      import('../../functions/handlers/on-instance-event.ts'),
    ]);
    Object.assign(functions, { plan: plan.handler, shard: shard.handler, report: report.handler, event: event.handler });
  });
  afterAll(async () => {
    delete process.env.SLACK_WEBHOOK_URL;
    await functions.slack.close();
  });
  return functions;
};

/** What a deployment has before its first run: the sweep bucket and the policy parameter. */
export const prepareDeployment = async (bucket: string, policy: PolicyInput) => {
  await new S3Client({}).send(new CreateBucketCommand({ Bucket: bucket }));
  await new SSMClient({}).send(
    new PutParameterCommand({ Name: POLICY_PARAMETER, Type: 'String', Value: JSON.stringify(policy), Overwrite: true }),
  );
};

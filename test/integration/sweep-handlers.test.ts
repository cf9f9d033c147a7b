// The three sweep functions in-process, chained as the state machine chains them: plan →
// one sweep-shard per item of the Map → report, each payload through JSON as in the state.
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackReceiver, type SlackReceiver } from '../../local/slack-receiver.ts';
import { InputError } from '../../functions/core/errors.ts';
import type { SweepReport } from '../../functions/core/model.ts';
import { readInstance, REGIONS, seedOrganization, testPolicy } from '../support/scenario.ts';
import { readFindings } from '../../local/findings.ts';
import { fixture, runInstancesEvent } from '../support/events.ts';
import { useMoto } from '../support/moto.ts';

const { aws } = useMoto();
const POLICY_PARAMETER = '/imds-remediator/policy';

type Handler = (event: unknown) => Promise<unknown>;
let handlers: { plan: Handler; shard: Handler; report: Handler; event: Handler };

let slack: SlackReceiver;

afterAll(async () => {
  delete process.env.SLACK_WEBHOOK_URL;
  await slack.close();
});

beforeAll(async () => {
  slack = await startSlackReceiver();
  // What serverless.yml sets, for a deployment in apply mode reading its policy from SSM.
  Object.assign(process.env, {
    SLACK_WEBHOOK_URL: slack.url(),
    SWEEP_MODE: 'apply',
    POLICY_SSM_PARAMETER: POLICY_PARAMETER,
    POLICY_FILE: 'policy.yaml',
    MEMBER_ROLE_NAME: 'ImdsRemediatorMemberRole',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  // Imported after the environment is set: the logger reads its level when it is created.
  const [plan, shard, report, event] = await Promise.all([
    import('../../functions/handlers/sweep-plan.ts'),
    import('../../functions/handlers/sweep-shard.ts'),
    import('../../functions/handlers/sweep-report.ts'),
    import('../../functions/handlers/on-instance-event.ts'),
  ]);
  handlers = { plan: plan.handler, shard: shard.handler, report: report.handler, event: event.handler };
});

/** What crossing the Step Functions state does to a payload. */
const throughState = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface PlanOutput {
  apply: boolean;
  plan: unknown;
  shards: unknown[];
}

const runStateMachine = async (input: unknown): Promise<SweepReport> => {
  const planned = throughState((await handlers.plan(input)) as PlanOutput);
  const results = [];
  for (const shard of planned.shards) results.push(throughState(await handlers.shard({ shard, apply: planned.apply })));
  return (await handlers.report({ apply: planned.apply, plan: planned.plan, results })) as SweepReport;
};

const seed = async () => {
  const local = aws();
  const world = await seedOrganization(local);
  await new SSMClient({}).send(
    new PutParameterCommand({ Name: POLICY_PARAMETER, Type: 'String', Value: JSON.stringify(testPolicy()), Overwrite: true }),
  );
  return { local, ...world };
};

describe('sweep functions chained like the state machine', () => {
  it('plans every account-region, enforces the safe instances and reports the totals of every verdict', async () => {
    const { local, accounts, seeded } = await seed();

    const report = await runStateMachine({ source: 'schedule' });

    const shards = accounts.length * REGIONS.length;
    expect(report.mode).toBe('apply');
    expect(report.errors).toEqual([]);
    expect(report.summary).toEqual({
      byVerdict: {
        compliant: 2 * shards,
        'fix-hop-limit': shards,
        enforce: 2 * shards,
        'blocked-v1-in-use': shards,
        'insufficient-evidence': shards,
        exempt: shards,
        'v1-rejected': 0,
        gone: 0,
        error: 0,
      },
      changed: 3 * shards,
      errors: 0,
      accounts: accounts.length,
      shards,
    });
    expect(report.notifications?.slack).toMatchObject({ status: 'sent' });
    const summary = slack.received.at(-1)?.body as { text: string };
    expect(summary.text).toMatch(new RegExp(`^IMDSv2 sweep \\(apply\\): .*${3 * shards} changed`));
    for (const s of seeded.filter((x) => x.kind === 'plain' || x.kind === 'v1-user')) {
      const expected = s.kind === 'plain' ? 'required' : 'optional';
      expect(await readInstance(local, s.accountId, s.region, s.instanceId)).toMatchObject({ httpTokens: expected });
    }
  });

  it('changes nothing when the execution input asks for a plan, even in an apply deployment', async () => {
    const { local, seeded } = await seed();

    const report = await runStateMachine({ mode: 'plan' });

    expect(report.mode).toBe('plan');
    expect(report.summary.changed).toBe(0);
    expect(report.summary.byVerdict.enforce).toBeGreaterThan(0);
    for (const s of seeded.filter((x) => x.kind === 'plain')) {
      expect(await readInstance(local, s.accountId, s.region, s.instanceId)).toMatchObject({ httpTokens: 'optional' });
    }
  });

  it('refuses a shard event without its shard, naming the field', async () => {
    await expect(handlers.shard({ apply: true })).rejects.toThrow(InputError);
    await expect(handlers.shard({ apply: true, shard: { accountId: '1', region: 'us-east-1' } })).rejects.toThrow(/shard\.accountId/);
  });
});

describe('on-instance-event function', () => {
  it('enforces a launched instance from its CloudTrail event, and records its finding', async () => {
    const { local } = await seed();
    const [id = ''] = await local.runInstances('123456789012', 'us-east-1', { tags: { workload: 'ecs' } });

    const result = await handlers.event(runInstancesEvent('123456789012', 'us-east-1', [id]));

    expect(result).toMatchObject({ status: 'handled', summary: { changed: 1, errors: 0 } });
    expect(await readInstance(local, '123456789012', 'us-east-1', id)).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
    const finding = (await readFindings(local, '123456789012', 'us-east-1')).find((f) => f.Resources?.[0]?.Id?.endsWith(id));
    expect(finding?.Compliance?.Status).toBe('PASSED');
  });

  it('rejects a malformed event without throwing, so that it is not retried forever', async () => {
    await seed();
    const result = await handlers.event({ ...fixture('run-instances'), account: 'not-an-account' });
    expect(result).toEqual({ status: 'rejected', problems: ['account: must be a 12-digit account id'] });
  });

  it('ignores a failed call, saying why', async () => {
    await seed();
    expect(await handlers.event(fixture('run-instances-failed'))).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/failed/) });
  });
});

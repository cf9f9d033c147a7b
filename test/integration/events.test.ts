import { describe, expect, it } from 'vitest';
import type { AnyClient } from '../../functions/app/compose.ts';
import { composeWorld } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { TAG_ENFORCED_AT, TAG_REASON } from '../../functions/domain/tags.ts';
import { remediateEvent } from '../../functions/events/remediate-event.ts';
import { EventError } from '../../functions/events/instance-event.ts';
import { parsePolicy, type PolicyInput } from '../../functions/domain/policy.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { driftEvent, fixture, runInstancesEvent } from '../support/events.ts';
import { readFindings } from '../../local/findings.ts';
import { startSlackReceiver } from '../../local/slack-receiver.ts';
import { captureLog, useMoto } from '../support/moto.ts';
import { awsError, intercept, recordCalls } from '../support/sdk-middleware.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';

const handle = async (raw: unknown, policyInput: PolicyInput = testPolicy(), customizeClient?: (c: AnyClient) => void, env: Record<string, string> = {}) => {
  const policy = parsePolicy(policyInput);
  const { log, lines } = captureLog();
  const world = composeWorld({ policy, env: readEnvironment({ ...process.env, ...env }), customizeClient });
  const outcome = await remediateEvent(world, policy, raw, { log, verify: { attempts: 5, delayMs: 20 } });
  return { ...outcome, lines };
};

describe('event-driven auto-fix', () => {
  it('enforces newly launched plain and container instances with the hop limit of their tags', async () => {
    const local = aws();
    const members = await local.createOrganization(['alpha']);
    const account = members[0] ?? '';
    const [plain = ''] = await local.runInstances(account, REGION, { tags: { Name: 'api' } });
    const [container = ''] = await local.runInstances(account, REGION, { tags: { workload: 'container' } });

    const { status, report, lines } = await handle(runInstancesEvent(account, REGION, [plain, container]));

    expect(status).toBe('handled');
    expect(report.summary).toMatchObject({ changed: 2, errors: 0 });
    expect(await readInstance(local, account, REGION, plain)).toMatchObject({ httpTokens: 'required', hopLimit: 1 });
    const now = await readInstance(local, account, REGION, container);
    expect(now).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
    expect(now.tags[TAG_ENFORCED_AT]).toBeDefined();
    expect(now.tags[TAG_REASON]).toContain(`new instance launched by arn:aws:sts::${account}:assumed-role/PlatformAdmin/alice@example.com`);
    expect(lines.filter((l) => l.message === 'instance changed')).toHaveLength(2);
  });

  it('leaves the findings of every other instance as they are: an event sees only its own instances', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [earlier = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { tags: { Name: 'earlier' } });
    await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [earlier]));
    const [launched = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { tags: { Name: 'launched' } });

    await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [launched]));

    const findings = await readFindings(local, MANAGEMENT_ACCOUNT, REGION);
    expect(findings.map((f) => [f.Resources?.[0]?.Id?.split('/').at(-1), f.RecordState]).sort()).toEqual(
      [
        [earlier, 'ACTIVE'],
        [launched, 'ACTIVE'],
      ].sort(),
    );
  });

  it('records a PASSED finding and tells Slack about each auto-fix and each blocked launch', async () => {
    const local = aws();
    await local.createOrganization([]);
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, REGION, 'legacy', 1);
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [group.instanceIds[0] ?? '']: days(14, 9) });
    const [blocked = ''] = await group.scaleOut(1);
    const [fixed = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { tags: { workload: 'ecs' } });
    const slack = await startSlackReceiver();
    try {
      const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [fixed, blocked]), testPolicy(), undefined, { SLACK_WEBHOOK_URL: slack.url() });

      const findings = await readFindings(local, MANAGEMENT_ACCOUNT, REGION);
      const statusOf = (id: string) => findings.find((f) => f.Resources?.[0]?.Id?.endsWith(id))?.Compliance?.Status;
      expect([statusOf(fixed), statusOf(blocked)]).toEqual(['PASSED', 'FAILED']);
      expect(report.notifications?.slack).toMatchObject({ status: 'sent' });
      const texts = slack.received.map((r) => (r.body as { text: string }).text);
      expect(texts.sort()).toEqual([
        expect.stringMatching(new RegExp(`^IMDSv2 enforced, hop limit 2 on ${fixed} .*new instance launched by`)),
        expect.stringMatching(new RegExp(`^Not enforced on ${blocked} \\(123456789012, us-east-1\\): IMDSv1 in use\\. siblings use IMDSv1: 9 calls`)),
      ]);
      expect(findings.find((f) => f.Resources?.[0]?.Id?.endsWith(blocked))?.Title).toBe(`IMDSv1 in use by the siblings of ${blocked}, not enforced`);
    } finally {
      await slack.close();
    }
  });

  it('does not enforce an instance launched into an Auto Scaling group whose siblings use IMDSv1', async () => {
    const local = aws();
    await local.createOrganization([]);
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, REGION, 'billing-workers', 3);
    const [noisy = '', ...quiet] = group.instanceIds;
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [noisy]: days(14, 25), ...Object.fromEntries(quiet.map((id) => [id, days(14)])) });
    const launched = await group.scaleOut(1);

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, launched));

    expect(report.instances).toEqual([
      expect.objectContaining({ instanceId: launched[0], verdict: 'blocked-v1-in-use', changed: false, reason: expect.stringMatching(new RegExp(`^siblings use IMDSv1: 25 calls .* by ${noisy} \\(25\\) in Auto Scaling group billing-workers`)) }),
    ]);
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, launched[0] ?? '')).toMatchObject({ httpTokens: 'optional' });
  });

  it('enforces an instance launched into a group whose siblings show no v1 calls', async () => {
    const local = aws();
    await local.createOrganization([]);
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, REGION, 'web', 2);
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, Object.fromEntries(group.instanceIds.map((id) => [id, days(14)])));
    const launched = await group.scaleOut(1);

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, launched));

    expect(report.instances[0]).toMatchObject({ verdict: 'enforce', changed: true, reason: expect.stringMatching(/no IMDSv1 call by 2 siblings .* in Auto Scaling group web/) });
  });

  it('handles 50 instances of one event with batched calls, not 50 of each', async () => {
    const local = aws();
    await local.createOrganization([]);
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, REGION, 'fleet', 5);
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, Object.fromEntries(group.instanceIds.map((id) => [id, days(14)])));
    const launched = await group.scaleOut(50);
    const { calls, customizeClient } = recordCalls();

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, launched), testPolicy({ mode: 'report' }), customizeClient);

    expect(report.instances).toHaveLength(50);
    expect(report.instances.every((i) => i.verdict === 'enforce')).toBe(true);
    expect(calls.filter((c) => c.operation === 'DescribeInstances')).toHaveLength(2); // the 50, then their siblings
    expect(calls.filter((c) => c.operation === 'GetMetricData')).toHaveLength(2); // the 50's own MetadataNoToken, then their siblings'
  });

  it('re-enforces an instance whose IMDSv1 someone re-opened, and names who did it', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'optional' });
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [id]: days(14) });
    const actor = 'arn:aws:sts::123456789012:assumed-role/Developer/bob@example.com';

    const { report } = await handle(driftEvent(MANAGEMENT_ACCOUNT, REGION, id, actor));

    expect(report.instances[0]).toMatchObject({ verdict: 'enforce', changed: true });
    const now = await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id);
    expect(now.httpTokens).toBe('required');
    expect(now.tags[TAG_REASON]).toContain(`IMDSv1 re-opened by ${actor}`);
  });

  it('leaves a re-opened instance alone when its workload has made v1 calls since', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [id]: days(2, 7) });

    const { report } = await handle(driftEvent(MANAGEMENT_ACCOUNT, REGION, id));

    expect(report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });

  it('changes nothing when the same event is delivered twice', async () => {
    const local = aws();
    await local.createOrganization([]);
    const ids = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 2 });
    const event = runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, ids);
    await handle(event);
    const { calls, customizeClient } = recordCalls();

    const { report } = await handle(event, testPolicy(), customizeClient);

    expect(report.summary.changed).toBe(0);
    expect(report.instances.map((i) => i.verdict)).toEqual(['compliant', 'compliant']);
    expect(calls.map((c) => c.operation)).not.toContain('ModifyInstanceMetadataOptions');
  });

  it('ignores a failed call, an account outside the scope and a region outside the scope', async () => {
    const local = aws();
    const [alpha = '', beta = ''] = await local.createOrganization(['alpha', 'beta']);
    const [id = ''] = await local.runInstances(beta, REGION, {});
    const launch = runInstancesEvent(beta, REGION, [id]);
    const failed = { ...launch, detail: { ...(fixture('run-instances-failed').detail as object), recipientAccountId: beta, userIdentity: (launch.detail as { userIdentity: unknown }).userIdentity } };

    const results = [
      await handle(failed),
      await handle(runInstancesEvent(beta, REGION, [id]), testPolicy({ scope: { accounts: [alpha] } })),
      await handle(runInstancesEvent(beta, 'ap-south-1', [id])),
    ];

    expect(results.map((r) => r.status)).toEqual(['ignored', 'ignored', 'ignored']);
    expect(results.map((r) => r.reason)).toEqual([
      expect.stringMatching(/failed \(Client.InstanceLimitExceeded\)/),
      expect.stringMatching(/not in the policy scope/),
      expect.stringMatching(/region ap-south-1 is not in the policy scope/),
    ]);
    expect(results[0]?.lines.some((l) => l.message === 'event ignored')).toBe(true);
    expect(await readInstance(local, beta, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });

  it('throws a valid event that fails, for the platform to retry and then dead-letter', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    const outage = intercept('ec2Down', ({ operation }) => {
      if (operation === 'DescribeInstances') throw awsError('ServiceUnavailable', 'EC2 is unavailable');
    });
    await expect(handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [id]), testPolicy(), outage)).rejects.toMatchObject({ name: 'ServiceUnavailable' });
  });

  it('rejects a malformed event without touching AWS', async () => {
    const { calls, customizeClient } = recordCalls();
    await expect(handle({ source: 'aws.ec2', detail: {} }, testPolicy(), customizeClient)).rejects.toBeInstanceOf(EventError);
    expect(calls).toEqual([]);
  });

  it('retries an instance that is still pending, then enforces it', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    let refusals = 2;
    const customizeClient = intercept('pendingInstance', ({ operation }) => {
      if (operation === 'ModifyInstanceMetadataOptions' && refusals-- > 0) {
        throw awsError('IncorrectInstanceState', `The instance '${id}' is not in a state from which it can be modified.`);
      }
    });

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [id]), testPolicy(), customizeClient);

    expect(refusals).toBeLessThan(0);
    expect(report.instances[0]).toMatchObject({ verdict: 'enforce', changed: true });
  });

  it('reports an instance terminated before the event was handled as gone, not as an error', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [kept = '', terminated = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 2 });
    await local.terminate(MANAGEMENT_ACCOUNT, REGION, [terminated]);

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [kept, terminated]));

    expect(report.instances.find((i) => i.instanceId === terminated)).toMatchObject({ verdict: 'gone', changed: false });
    expect(report.summary).toMatchObject({ changed: 1, errors: 0 });
  });
});

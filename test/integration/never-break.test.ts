// Issue 12: the decision rules that keep the tool from breaking a workload, each proven through
// the real SDK against moto_server on the path a user would take (a sweep, or an event).
import { ModifyInstanceMetadataOptionsCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { TAG_HOP_LIMIT_RAISED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REOPENED_AT } from '../../functions/domain/tags.ts';
import { readFindings } from '../../local/findings.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { composeWorld } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { parsePolicy, type PolicyInput } from '../../functions/domain/policy.ts';
import { remediateEvent, type EventOptions } from '../../functions/events/remediate-event.ts';
import { driftEvent, runInstancesEvent } from '../support/events.ts';
import { captureLog, sweep, useMoto } from '../support/moto.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
const policy = (overrides: PolicyInput = {}) => testPolicy({ scope: { regions: [REGION] }, ...overrides });
const DAY_MS = 86_400_000;

/** The event path as on-instance-event runs it, at `now` (a replay is an event handled late). */
const handle = async (raw: unknown, options: Partial<EventOptions> & { policy?: PolicyInput } = {}) => {
  const parsed = parsePolicy(options.policy ?? policy());
  const { log, lines } = captureLog();
  const world = composeWorld({ policy: parsed, env: readEnvironment(process.env) });
  const outcome = await remediateEvent(world, parsed, raw, { log, verify: { attempts: 5, delayMs: 20 }, ...options });
  return { ...outcome, lines };
};

describe('finding 1: hop limits are never lowered unless the policy says so', () => {
  it('keeps hop limit 2 on an untagged required instance and enforces an optional one at 2, under the default rule of 1', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [al2023 = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', hopLimit: 2 });
    const [optional = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { hopLimit: 2 });
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [optional]: days(14) });

    const { report } = await sweep(policy(), { apply: true });

    const byId = new Map(report.instances.map((i) => [i.instanceId, i]));
    expect(byId.get(al2023)).toMatchObject({ verdict: 'compliant', hopLimit: 2, changed: false });
    expect(byId.get(optional)).toMatchObject({ verdict: 'enforce', hopLimit: 2, changed: true });
    const kept = await readInstance(local, MANAGEMENT_ACCOUNT, REGION, al2023);
    expect(kept).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
    expect(kept.tags[TAG_HOP_LIMIT_SET_AT]).toBeUndefined();
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, optional)).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
  });

  it('lowers it only with hopLimit.lower: apply', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [al2023 = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', hopLimit: 2 });

    const { report } = await sweep(policy({ hopLimit: { default: 1, lower: 'apply' } }), { apply: true });

    expect(report.instances[0]).toMatchObject({ instanceId: al2023, verdict: 'fix-hop-limit', changed: true });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, al2023)).toMatchObject({ hopLimit: 1 });
  });
});

describe('finding 2: two-phase container remediation', () => {
  it('raises a v1-using container host to its hop limit with IMDSv1 still allowed, then enforces it once the calls stop', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [host = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { hopLimit: 1, tags: { workload: 'ecs' } });
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [host]: days(14, 30) });

    const first = await sweep(policy(), { apply: true });

    expect(first.report.instances[0]).toMatchObject({ verdict: 'raise-hop-limit', hopLimit: 2, noTokenCalls: 30, changed: true });
    const raised = await readInstance(local, MANAGEMENT_ACCOUNT, REGION, host);
    // The raise sends the hop limit alone. AWS keeps HttpTokens=optional; moto clears the options
    // a call leaves out, which EC2's answer then omits: either way IMDSv1 is not required.
    expect(raised.hopLimit).toBe(2);
    expect(raised.httpTokens).not.toBe('required');
    expect(raised.tags[TAG_HOP_LIMIT_RAISED_AT]).toBeDefined();
    const finding = (await readFindings(local, MANAGEMENT_ACCOUNT, REGION)).find((f) => f.Resources?.[0]?.Id?.endsWith(host));
    expect(finding?.Compliance?.Status).toBe('FAILED');
    expect(first.report.summary.byVerdict['raise-hop-limit']).toBe(1);

    // The next sweep still sees the calls of the window: it measures, and changes nothing.
    const second = await sweep(policy(), { apply: true });
    expect(second.report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false });

    // Two weeks on, with no v1 call since the raise, the host is enforced at the raised hop limit.
    const later = new Date(Date.now() + 14 * 86_400_000);
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [host]: days(14) }, later);
    const third = await sweep(policy(), { apply: true, now: () => later });
    expect(third.report.instances[0]).toMatchObject({ verdict: 'enforce', changed: true });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, host)).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
  });
});

describe('finding 3: a replayed launch event does not enforce an old IMDSv1 user', () => {
  it('blocks an instance named by a nine-day-old RunInstances event, by its own 500 IMDSv1 calls', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [legacy = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    // The event is redriven from the dead-letter queue nine days after the launch.
    const replayedAt = new Date(Date.now() + 9 * DAY_MS);
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [legacy]: days(14, 500) }, replayedAt);

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [legacy]), { now: replayedAt });

    expect(report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', noTokenCalls: 500, changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, legacy)).toMatchObject({ httpTokens: 'optional' });
  });

  it('blocks a just-launched instance whose own IMDSv1 calls already show', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [launched = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [launched]: days(1, 3) });

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [launched]));

    expect(report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', noTokenCalls: 3, changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, launched)).toMatchObject({ httpTokens: 'optional' });
  });
});

describe("finding 9: siblings' evidence follows the same rules", () => {
  it('does not enforce a launch into a group whose siblings have no datapoints: unknown is not zero', async () => {
    const local = aws();
    await local.createOrganization([]);
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, REGION, 'quiet', 2);
    const launched = await group.scaleOut(1);

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, launched));

    expect(report.instances[0]).toMatchObject({ verdict: 'insufficient-evidence', changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, launched[0] ?? '')).toMatchObject({ httpTokens: 'optional' });
  });

  it("counts an enforced sibling's rejected IMDSv1 calls as IMDSv1 use", async () => {
    const local = aws();
    await local.createOrganization([]);
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, REGION, 'workers', 2);
    const [enforced = '', other = ''] = group.instanceIds;
    const ec2 = await local.ec2(MANAGEMENT_ACCOUNT, REGION);
    await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: enforced, HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 }));
    // Enforced, it answers no IMDSv1 call: its workload's attempts show only as rejected.
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [enforced]: days(14), [other]: days(14) });
    await local.putRejectedCalls(MANAGEMENT_ACCOUNT, REGION, { [enforced]: days(14, 80) });
    const launched = await group.scaleOut(1);

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, launched));

    expect(report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false, reason: expect.stringContaining(`${enforced} (80)`) });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, launched[0] ?? '')).toMatchObject({ httpTokens: 'optional' });
  });
});

describe("finding 4: drift is decided by the sweep's rules", () => {
  it('does not re-enforce a re-open with no datapoints, nor one observed on 3 of the 7 days required, and says what was measured', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [unmeasured = '', young = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 2 });
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [young]: days(3) });

    const results = [await handle(driftEvent(MANAGEMENT_ACCOUNT, REGION, unmeasured)), await handle(driftEvent(MANAGEMENT_ACCOUNT, REGION, young))];

    expect(results.map((r) => r.report.instances[0])).toEqual([
      expect.objectContaining({ verdict: 'insufficient-evidence', observedDays: 0, noTokenCalls: null, changed: false }),
      expect.objectContaining({ verdict: 'insufficient-evidence', observedDays: 3, changed: false }),
    ]);
    expect(results.map((r) => r.report.instances[0]?.reason).join(' ')).not.toMatch(/\b0 IMDSv1 calls over/);
    for (const id of [unmeasured, young]) expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });

  it('leaves open a re-open that rescued a failing agent: its IMDSv1 calls were being rejected, though another tool enforced it', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [rescued = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    // Required until a person re-opened it: nothing answered, 40 attempts refused.
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [rescued]: days(14) });
    await local.putRejectedCalls(MANAGEMENT_ACCOUNT, REGION, { [rescued]: days(14, 40) });

    const { report } = await handle(driftEvent(MANAGEMENT_ACCOUNT, REGION, rescued));

    expect(report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, rescued)).toMatchObject({ httpTokens: 'optional' });
  });

  it('blocks a re-open of an Auto Scaling instance whose siblings use IMDSv1', async () => {
    const local = aws();
    await local.createOrganization([]);
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, REGION, 'legacy', 2);
    const [noisy = '', member = ''] = group.instanceIds;
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [noisy]: days(14, 9), [member]: days(14) });

    const { report } = await handle(driftEvent(MANAGEMENT_ACCOUNT, REGION, member));

    expect(report.instances[0]).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false, reason: expect.stringContaining(`${noisy} (9)`) });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, member)).toMatchObject({ httpTokens: 'optional' });
  });

  it('leaves open, records and reports an instance re-opened after the tool enforced it, and the next sweep leaves it open too', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [id]: days(14) });
    await sweep(policy(), { apply: true });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'required' });
    // Infrastructure as code declares optional and puts it back.
    const ec2 = await local.ec2(MANAGEMENT_ACCOUNT, REGION);
    await ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'optional', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 }));
    const actor = 'arn:aws:sts::123456789012:assumed-role/TerraformApply/pipeline';

    const { report } = await handle(driftEvent(MANAGEMENT_ACCOUNT, REGION, id, actor));

    expect(report.instances[0]).toMatchObject({ verdict: 'reopened-after-enforcement', changed: false, reason: expect.stringContaining(actor) });
    const after = await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id);
    expect(after.httpTokens).toBe('optional');
    expect(after.tags[TAG_REOPENED_AT]).toBeDefined();

    const next = await sweep(policy(), { apply: true });
    expect(next.report.instances[0]).toMatchObject({ verdict: 'reopened-after-enforcement', changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });
});

describe('finding 12 (part): the event path obeys a deadline and leaves the rest to the sweep', () => {
  it('defers the changes that do not fit before the deadline, saying the scheduled sweep takes them up', async () => {
    const local = aws();
    await local.createOrganization([]);
    const launched = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 3 });

    const { report } = await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, launched), { deadline: Date.now() - 1 });

    expect(report.summary).toMatchObject({ changed: 0, toChange: 3 });
    expect(report.instances.map((i) => i.reason).every((r) => /scheduled sweep/.test(r))).toBe(true);
    for (const id of launched) expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });
});

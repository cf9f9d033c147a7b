// Fault injection: the real SDK → a loopback fault proxy → moto_server. For each fault
// class a seeded organization is swept while one scope fails, then swept again after the
// fault clears; nothing may be lost, retries must be bounded, and the end state must be
// the one a clean run reaches.
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { MiddlewareStack } from '@smithy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnyClient } from '../../functions/app/compose.ts';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REASON } from '../../functions/domain/tags.ts';
import { VERDICTS } from '../../functions/domain/verdicts.ts';
import type { SweepReport } from '../../functions/report/aggregate.ts';
import { days, type LocalAws } from '../../local/local-aws.ts';
import { startFaultProxy, type Call, type FaultProxy } from '../support/fault-proxy.ts';
import { endpoint, sweep, useMoto } from '../support/moto.ts';
import { readInstance, seedOrganization, testPolicy, type Kind, type Seeded, PLANNED_VERDICT } from '../support/scenario.ts';

const { aws } = useMoto();

const MAX_ATTEMPTS = 3;

let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(endpoint());
});
afterAll(() => proxy.close());
beforeEach(() => proxy.clear());

/** Runs a sweep with the SDK pointed at the proxy, a small retry budget and a short timeout. */
const sweepThroughProxy = async (...args: Parameters<typeof sweep>) => {
  const vars = { AWS_ENDPOINT_URL: proxy.endpoint, AWS_MAX_ATTEMPTS: String(MAX_ATTEMPTS), AWS_REQUEST_TIMEOUT_MS: '2500' };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await sweep(...args);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
};

/** Where every kind of instance ends after a clean apply (the first test proves it). */
const CLEAN_END: Record<Kind, { httpTokens: string; hopLimit: number; httpEndpoint: string; stamp: string }> = {
  plain: { httpTokens: 'required', hopLimit: 1, httpEndpoint: 'enabled', stamp: TAG_ENFORCED_AT },
  container: { httpTokens: 'required', hopLimit: 2, httpEndpoint: 'enabled', stamp: TAG_ENFORCED_AT },
  'eks-drift': { httpTokens: 'required', hopLimit: 2, httpEndpoint: 'enabled', stamp: TAG_HOP_LIMIT_SET_AT },
  'v1-user': { httpTokens: 'optional', hopLimit: 1, httpEndpoint: 'enabled', stamp: 'none' },
  'no-data': { httpTokens: 'optional', hopLimit: 1, httpEndpoint: 'enabled', stamp: 'none' },
  exempt: { httpTokens: 'optional', hopLimit: 1, httpEndpoint: 'enabled', stamp: 'none' },
  'endpoint-off': { httpTokens: 'optional', hopLimit: 1, httpEndpoint: 'disabled', stamp: 'none' },
  compliant: { httpTokens: 'required', hopLimit: 1, httpEndpoint: 'enabled', stamp: 'none' },
};

const endState = async (local: LocalAws, seeded: Seeded[]) =>
  Promise.all(
    seeded.map(async (s) => {
      const now = await readInstance(local, s.accountId, s.region, s.instanceId);
      const stamp = now.tags[TAG_ENFORCED_AT] ? TAG_ENFORCED_AT : now.tags[TAG_HOP_LIMIT_SET_AT] ? TAG_HOP_LIMIT_SET_AT : 'none';
      if (stamp !== 'none') expect(now.tags[TAG_REASON], `${s.kind} ${s.instanceId} reason tag`).toBeTruthy();
      return { id: `${s.kind} ${s.accountId} ${s.region}`, httpTokens: now.httpTokens, hopLimit: now.hopLimit, httpEndpoint: now.httpEndpoint, stamp };
    }),
  );

const cleanEnd = (seeded: Seeded[]) => seeded.map((s) => ({ id: `${s.kind} ${s.accountId} ${s.region}`, ...CLEAN_END[s.kind] }));

/**
 * Nothing lost: every seeded instance is in the report, or its whole account-region is
 * named by a scope error; nothing is reported twice; the summary adds up.
 */
const expectNothingLost = (report: SweepReport, seeded: Seeded[]) => {
  const byId = new Map(report.instances.map((i) => [i.instanceId, i]));
  expect(byId.size, 'an instance reported twice').toBe(report.instances.length);
  const seededIds = new Set(seeded.map((s) => s.instanceId));
  expect(report.instances.filter((i) => !seededIds.has(i.instanceId))).toEqual([]);
  for (const s of seeded) {
    const found = byId.get(s.instanceId);
    if (found) {
      expect(VERDICTS).toContain(found.verdict);
      expect(found.reason).not.toBe('');
      continue;
    }
    const covering = report.errors.find((e) => e.accountId === s.accountId && (e.region === s.region || e.region === null));
    expect(covering, `${s.kind} ${s.instanceId} (${s.accountId} ${s.region}) is neither reported nor covered by a scope error`).toBeDefined();
  }
  const counted = Object.values(report.summary.byVerdict).reduce((a, b) => a + b, 0);
  expect(counted).toBe(report.instances.length);
  expect(report.summary.errors).toBe(report.errors.length + report.summary.byVerdict.error);
};

/** Outside the failing scope, every instance got the verdict a clean run gives it. */
const expectRestSwept = (report: SweepReport, seeded: Seeded[], failing: (s: Seeded) => boolean) => {
  const rest = seeded.filter((s) => !failing(s));
  expect(rest.length).toBeGreaterThan(0);
  for (const s of rest) {
    const found = report.instances.find((i) => i.instanceId === s.instanceId);
    expect(found, `${s.kind} ${s.instanceId}`).toMatchObject({ verdict: PLANNED_VERDICT[s.kind] });
  }
};

const faulted = (calls: Call[]) => calls.filter((c) => c.fault !== undefined);

/** The fault clears; a second apply must end exactly where a clean run ends. */
const expectRecovers = async (local: LocalAws, seeded: Seeded[]) => {
  proxy.clear();
  const { report } = await sweepThroughProxy(testPolicy(), { apply: true });
  expect(report.errors).toEqual([]);
  expect(report.summary.byVerdict.error).toBe(0);
  expect(await endState(local, seeded)).toEqual(cleanEnd(seeded));
};

const seed = async () => {
  const local = aws();
  const { members, seeded } = await seedOrganization(local, ['alpha']);
  const alpha = members[0] ?? '';
  return { local, alpha, seeded };
};

describe('sweep under injected faults', () => {
  it('a clean apply through the proxy reaches the reference end state', async () => {
    const { local, seeded } = await seed();

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.errors).toEqual([]);
    expectRestSwept(report, seeded, () => false);
    expect(faulted(proxy.calls)).toEqual([]);
    expect(await endState(local, seeded)).toEqual(cleanEnd(seeded));
  });

  it('EC2 RequestLimitExceeded on every DescribeInstances of one account-region: that shard is reported, the rest swept', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ service: 'ec2', operation: 'DescribeInstances', accountId: alpha, region: 'eu-west-1', fault: 'throttle' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    const failing = (s: Seeded) => s.accountId === alpha && s.region === 'eu-west-1';
    expect(report.errors).toEqual([
      { accountId: alpha, region: 'eu-west-1', message: expect.stringMatching(/cannot list instances: RequestLimitExceeded/) },
    ]);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, failing);
    // One paginated call, retried by the SDK up to its budget and no further.
    expect(faulted(proxy.calls)).toHaveLength(MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('CloudWatch Throttling (JSON protocol) on GetMetricData: instances needing evidence there are errors, the others still decided', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ service: 'monitoring', operation: 'GetMetricData', accountId: alpha, region: 'us-east-1', fault: 'throttle' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    const inShard = (s: Seeded) => s.accountId === alpha && s.region === 'us-east-1';
    expect(report.errors).toEqual([
      { accountId: alpha, region: 'us-east-1', message: expect.stringMatching(/cannot read MetadataNoToken: Throttling/) },
    ]);
    expectNothingLost(report, seeded);
    const needEvidence: Kind[] = ['plain', 'container', 'v1-user', 'no-data'];
    expectRestSwept(report, seeded, (s) => inShard(s) && needEvidence.includes(s.kind));
    for (const s of seeded.filter((x) => inShard(x) && needEvidence.includes(x.kind))) {
      expect(report.instances.find((i) => i.instanceId === s.instanceId)).toMatchObject({ verdict: 'error', changed: false });
    }
    expect(faulted(proxy.calls)).toHaveLength(MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('STS Throttling (query protocol) on AssumeRole into one account: the account is reported, the others swept', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ service: 'sts', operation: 'AssumeRole', when: (c) => String(c.params.RoleArn).includes(`::${alpha}:`), fault: 'throttle' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.errors).toEqual([
      { accountId: alpha, region: null, message: expect.stringMatching(/cannot assume arn:aws:iam::\d{12}:role\/\w+: Throttling/) },
    ]);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, (s) => s.accountId === alpha);
    expect(report.instances.filter((i) => i.accountId === alpha)).toEqual([]);
    expect(faulted(proxy.calls)).toHaveLength(MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('HTTP 429 on the first calls of Organizations and of every EC2 operation: retried, nothing reported', async () => {
    const { local, seeded } = await seed();
    proxy.inject({ service: 'organizations', operation: 'ListAccounts', fault: 'http-429', first: MAX_ATTEMPTS - 1 });
    proxy.inject({ service: 'ec2', operation: 'DescribeInstances', fault: 'http-429', first: MAX_ATTEMPTS - 1 });
    proxy.inject({ service: 'ec2', operation: 'ModifyInstanceMetadataOptions', fault: 'http-429', first: MAX_ATTEMPTS - 1 });
    proxy.inject({ service: 'ec2', operation: 'CreateTags', fault: 'http-429', first: MAX_ATTEMPTS - 1 });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.errors).toEqual([]);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, () => false);
    expect(faulted(proxy.calls)).toHaveLength(4 * (MAX_ATTEMPTS - 1));
    expect(await endState(local, seeded)).toEqual(cleanEnd(seeded));
  });

  it('HTTP 503 on the first two attempts of every EC2 and CloudWatch call: retried within budget, same result as a clean run', async () => {
    const { local, seeded } = await seed();
    proxy.inject({ service: 'ec2', fault: 'http-503', attempts: MAX_ATTEMPTS - 1 });
    proxy.inject({ service: 'monitoring', fault: 'http-503', attempts: MAX_ATTEMPTS - 1 });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.errors).toEqual([]);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, () => false);
    // Every call took exactly its full budget: two refusals, then the answer.
    const sdkCalls = proxy.calls.filter((c) => c.service === 'ec2' || c.service === 'monitoring');
    expect(sdkCalls.length).toBe(MAX_ATTEMPTS * sdkCalls.filter((c) => c.attempt === 1).length);
    expect(Math.max(...sdkCalls.map((c) => c.attempt))).toBe(MAX_ATTEMPTS);
    expect(await endState(local, seeded)).toEqual(cleanEnd(seeded));
  });

  it('HTTP 503 on every ModifyInstanceMetadataOptions of one shard: its targets are errors, left as they were, and redone by the next run', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ operation: 'ModifyInstanceMetadataOptions', accountId: alpha, region: 'us-east-1', fault: 'http-503' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    const targets = seeded.filter((s) => s.accountId === alpha && s.region === 'us-east-1' && ['plain', 'container', 'eks-drift'].includes(s.kind));
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, (s) => targets.includes(s));
    for (const t of targets) {
      expect(report.instances.find((i) => i.instanceId === t.instanceId)).toMatchObject({
        verdict: 'error',
        changed: false,
        reason: expect.stringMatching(/(enforce|fix-hop-limit) failed: ServiceUnavailable/),
      });
      expect(await readInstance(local, t.accountId, t.region, t.instanceId)).toMatchObject({ hopLimit: 1 });
    }
    expect(faulted(proxy.calls)).toHaveLength(targets.length * MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('HTTP 500 on DescribeRegions of one account: the account is reported as unreachable, the others swept', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ operation: 'DescribeRegions', accountId: alpha, fault: 'http-500' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.errors).toEqual([{ accountId: alpha, region: null, message: expect.stringMatching(/cannot reach account: InternalError/) }]);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, (s) => s.accountId === alpha);
    expect(faulted(proxy.calls)).toHaveLength(MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('connection resets on every call of one account-region: that shard is reported, the rest swept', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ accountId: alpha, region: 'eu-west-1', service: 'ec2', operation: 'DescribeInstances', fault: 'reset' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.errors).toEqual([{ accountId: alpha, region: 'eu-west-1', message: expect.stringMatching(/cannot list instances: .*socket hang up/) }]);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, (s) => s.accountId === alpha && s.region === 'eu-west-1');
    expect(faulted(proxy.calls)).toHaveLength(MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('a GetMetricData that stalls past the client timeout is abandoned and retried, then reported', async () => {
    const { local, seeded } = await seed();
    proxy.inject({ operation: 'GetMetricData', accountId: '123456789012', region: 'eu-west-1', fault: 'stall' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.errors).toEqual([
      { accountId: '123456789012', region: 'eu-west-1', message: expect.stringMatching(/cannot read MetadataNoToken: EvidenceReadError: MetadataNoToken unread for \d+ instances .*TimeoutError/) },
    ]);
    expectNothingLost(report, seeded);
    const needEvidence: Kind[] = ['plain', 'container', 'v1-user', 'no-data'];
    expectRestSwept(report, seeded, (s) => s.accountId === '123456789012' && s.region === 'eu-west-1' && needEvidence.includes(s.kind));
    expect(faulted(proxy.calls)).toHaveLength(MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('ModifyInstanceMetadataOptions applied but its answer lost: reported as an error now, converges after', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ operation: 'ModifyInstanceMetadataOptions', accountId: alpha, region: 'eu-west-1', fault: 'lost-answer' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expectNothingLost(report, seeded);
    const targets = seeded.filter((s) => s.accountId === alpha && s.region === 'eu-west-1' && ['plain', 'container', 'eks-drift'].includes(s.kind));
    expectRestSwept(report, seeded, (s) => targets.includes(s));
    for (const t of targets) expect(report.instances.find((i) => i.instanceId === t.instanceId)).toMatchObject({ verdict: 'error' });
    await expectRecovers(local, seeded);
  });

  it('connection resets on every re-read after the change: the verify loop stops after its reads, and the next run converges', async () => {
    const { local, alpha, seeded } = await seed();
    // The re-read is the DescribeInstances with an instance-id filter; the listing has none.
    proxy.inject({ operation: 'DescribeInstances', accountId: alpha, region: 'us-east-1', when: (c) => 'Filter.1.Name' in c.params, fault: 'reset' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true, verify: { attempts: 3, delayMs: 10 } });

    expectNothingLost(report, seeded);
    const targets = seeded.filter((s) => s.accountId === alpha && s.region === 'us-east-1' && ['plain', 'container', 'eks-drift'].includes(s.kind));
    expectRestSwept(report, seeded, (s) => targets.includes(s));
    for (const t of targets) {
      expect(report.instances.find((i) => i.instanceId === t.instanceId)).toMatchObject({ verdict: 'error', reason: expect.stringMatching(/sent, but it could not be re-read to confirm it \(3 tries\): .*socket hang up/) });
    }
    expect(faulted(proxy.calls)).toHaveLength(3 * MAX_ATTEMPTS);
    await expectRecovers(local, seeded);
  });

  it('Organizations throttled on every ListAccounts: the run ends with the cause instead of hanging, having changed nothing', async () => {
    const { local, seeded } = await seed();
    proxy.inject({ service: 'organizations', operation: 'ListAccounts', fault: 'throttle' });

    await expect(sweepThroughProxy(testPolicy(), { apply: true })).rejects.toThrow(/Rate exceeded/);

    expect(faulted(proxy.calls)).toHaveLength(MAX_ATTEMPTS);
    expect(proxy.calls.filter((c) => c.operation === 'ModifyInstanceMetadataOptions')).toEqual([]);
    await expectRecovers(local, seeded);
  });

  it('CreateTags throttled in one shard: nothing there is left changed without its tags, and it converges after', async () => {
    const { local, alpha, seeded } = await seed();
    proxy.inject({ operation: 'CreateTags', accountId: alpha, region: 'us-east-1', fault: 'throttle' });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expectNothingLost(report, seeded);
    const targets = seeded.filter((s) => s.accountId === alpha && s.region === 'us-east-1' && ['plain', 'container', 'eks-drift'].includes(s.kind));
    expectRestSwept(report, seeded, (s) => targets.includes(s));
    for (const t of targets) {
      expect(report.instances.find((i) => i.instanceId === t.instanceId)).toMatchObject({
        verdict: 'error',
        changed: false,
        reason: expect.stringMatching(/not attempted: could not tag it first: Throttling|RequestLimitExceeded/),
      });
      expect(await readInstance(local, t.accountId, t.region, t.instanceId)).toMatchObject({ httpTokens: PLANNED_VERDICT[t.kind] === 'enforce' ? 'optional' : 'required', hopLimit: 1 });
    }
    await expectRecovers(local, seeded);
  });
});

describe('an instance terminated while the sweep runs', () => {
  const terminate = async (local: LocalAws, s: Seeded) => {
    const ec2 = await local.ec2(s.accountId, s.region);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [s.instanceId] }));
  };

  it('is reported as gone, not as an error, when ModifyInstanceMetadataOptions says InvalidInstanceID.NotFound', async () => {
    const { local, alpha, seeded } = await seed();
    const victim = seeded.find((s) => s.accountId === alpha && s.kind === 'plain');
    if (!victim) throw new Error('no plain instance seeded');
    proxy.inject({
      operation: 'ModifyInstanceMetadataOptions',
      when: (c) => c.params.InstanceId === victim.instanceId,
      fault: { code: 'InvalidInstanceID.NotFound', message: `The instance ID '${victim.instanceId}' does not exist` },
      before: () => terminate(local, victim),
    });

    const { report, lines } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.instances.find((i) => i.instanceId === victim.instanceId)).toMatchObject({
      verdict: 'gone',
      changed: false,
      reason: expect.stringMatching(/^terminated before it could be changed/),
    });
    expect(report.summary).toMatchObject({ errors: 0, byVerdict: expect.objectContaining({ gone: 1, error: 0 }) });
    expect(report.errors).toEqual([]);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, (s) => s === victim);
    expect(lines).toContainEqual(expect.objectContaining({ message: 'instance gone', instanceId: victim.instanceId }));
  });

  it('is reported as gone when it vanishes before it is tagged, and the rest of its tag batch is still changed', async () => {
    const { local, alpha, seeded } = await seed();
    const victim = seeded.find((s) => s.accountId === alpha && s.region === 'eu-west-1' && s.kind === 'plain');
    if (!victim) throw new Error('no plain instance seeded');
    // A twin enforced for the same reason shares the victim's CreateTags batch.
    const [twin = ''] = await local.runInstances(alpha, 'eu-west-1', { tags: { Name: 'web' } });
    await local.putNoTokenCalls(alpha, 'eu-west-1', { [twin]: days(14) });
    seeded.push({ accountId: alpha, region: 'eu-west-1', kind: 'plain', instanceId: twin });
    const names = (c: Call) => Object.values(c.params).includes(victim.instanceId);
    proxy.inject({
      operation: 'CreateTags',
      when: names,
      fault: { code: 'InvalidInstanceID.NotFound', message: `The instance ID '${victim.instanceId}' does not exist` },
      before: () => terminate(local, victim),
    });

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true });

    expect(report.instances.find((i) => i.instanceId === victim.instanceId)).toMatchObject({ verdict: 'gone', changed: false });
    expect(report.summary.errors).toBe(0);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, (s) => s === victim);
    const refused = proxy.calls.filter((c) => c.operation === 'CreateTags' && c.fault !== undefined);
    expect(refused.map((c) => Object.values(c.params).includes(twin))).toEqual([true, false]);
    expect(report.instances.find((i) => i.instanceId === twin)).toMatchObject({ verdict: 'enforce', changed: true });
    expect((await readInstance(local, alpha, 'eu-west-1', twin)).tags[TAG_ENFORCED_AT]).toBeDefined();
    const rest = seeded.filter((s) => s !== victim && ['plain', 'container', 'eks-drift'].includes(s.kind));
    for (const s of rest) expect(report.instances.find((i) => i.instanceId === s.instanceId), s.kind).toMatchObject({ changed: true });
    expect(proxy.calls.filter((c) => c.operation === 'ModifyInstanceMetadataOptions' && c.params.InstanceId === victim.instanceId)).toEqual([]);
  });

  it('is reported as gone when it disappears after the change was sent, before EC2 showed it applied', async () => {
    const { local, alpha, seeded } = await seed();
    const victim = seeded.find((s) => s.accountId === alpha && s.kind === 'container');
    if (!victim) throw new Error('no container instance seeded');
    // The race: the change lands, then the instance is terminated before the re-read.
    const customizeClient = (client: AnyClient) => {
      (client.middlewareStack as MiddlewareStack<object, object>).add(
        (next, context) => async (args) => {
          const out = await next(args);
          const input = args.input as { InstanceId?: string };
          if (context.commandName === 'ModifyInstanceMetadataOptionsCommand' && input.InstanceId === victim.instanceId) {
            await terminate(local, victim);
          }
          return out;
        },
        { step: 'initialize', name: 'terminateAfterModify' },
      );
    };

    const { report } = await sweepThroughProxy(testPolicy(), { apply: true, customizeClient });

    expect(report.instances.find((i) => i.instanceId === victim.instanceId)).toMatchObject({
      verdict: 'gone',
      reason: expect.stringMatching(/^terminated after the change was sent/),
    });
    expect(report.summary.errors).toBe(0);
    expectNothingLost(report, seeded);
    expectRestSwept(report, seeded, (s) => s === victim);
  });
});

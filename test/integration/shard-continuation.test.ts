// An account-region larger than one invocation's time, swept by the deployed functions as the
// state machine chains them: plan → the Map's child workflow, which invokes sweep-shard again
// with its cursor while it answers done: false → report. A slow service (the fault proxy delays
// the reads) and a short remaining time stand in for 50,000 instances and a 15-minute Lambda.
import { BatchImportFindingsCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildFinding, findingId } from '../../functions/findings/asff.ts';
import type { PolicyInput } from '../../functions/domain/policy.ts';
import { AFTER_CHANGES_RESERVE_MS, INVOCATION_MARGIN_MS } from '../../functions/sweep/pieces.ts';
import type { SweepReport } from '../../functions/report/aggregate.ts';
import { days, type LocalAws } from '../../local/local-aws.ts';
import { readFindings } from '../../local/findings.ts';
import { runDistributedMap } from '../support/distributed-map.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { endpoint, useMoto } from '../support/moto.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';
import { prepareDeployment, useSweepFunctions } from '../support/sweep-functions.ts';

const { aws } = useMoto();
const BUCKET = 'imds-remediator-test-continuation';
const REGION = 'us-east-1';
const PIECE = 4;
const DELAY_MS = 1_200;

let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(endpoint());
  // Every client the functions build goes through the proxy; without rules it only forwards.
  Object.assign(process.env, { AWS_ENDPOINT_URL: proxy.endpoint, SWEEP_PIECE_INSTANCES: String(PIECE) });
});
afterAll(async () => {
  process.env.AWS_ENDPOINT_URL = endpoint();
  delete process.env.SWEEP_PIECE_INSTANCES;
  await proxy.close();
});
// The deployment's environment (apply mode, the policy in SSM, the bucket, Slack at a local receiver).
useSweepFunctions('apply', BUCKET);

/**
 * What the Lambda runtime says is left when an invocation starts: its margin and one piece's
 * reserve, plus 5.8 s of work. Each read below takes 1.2 s, so an invocation sends its modifies
 * after three reads (listing, findings, evidence), at 3.6 s and up to 0.8 s of waiting for EC2's
 * bucket, and it has no time for a second piece: by the end of the first it has spent at least
 * four reads (4.8 s), and the next piece would need as long as the first (two reads at least).
 */
const lambdaContext = () => {
  const remaining = INVOCATION_MARGIN_MS + AFTER_CHANGES_RESERVE_MS + 5_800;
  return { getRemainingTimeInMillis: () => remaining };
};

/**
 * The functions as a new deployment loads them: each test's policy is read on the first
 * invocation and kept for the container's life, as in Lambda.
 */
const deployedFunctions = async () => {
  vi.resetModules();
  const [plan, shard, report] = await Promise.all([
    import('../../functions/handlers/sweep-plan.ts'),
    import('../../functions/handlers/sweep-shard.ts'),
    import('../../functions/handlers/sweep-report.ts'),
  ]);
  return { plan: plan.handler, shard: shard.handler, report: report.handler };
};

/** The reads slowed down: the listing and re-reads, the evidence, and every Security Hub call. */
const slowReads = () => {
  proxy.inject({ operation: 'DescribeInstances', fault: { delayMs: DELAY_MS } });
  proxy.inject({ operation: 'GetMetricData', fault: { delayMs: DELAY_MS } });
  proxy.inject({ service: 'securityhub', fault: { delayMs: DELAY_MS } });
};

interface Invocation {
  cursor?: { after: string; invocations: number };
  sofar?: { byVerdict: Record<string, number> };
}

/** The whole execution, with sweep-shard invoked as Lambda would, its remaining time included. */
const runSweep = async () => {
  const functions = await deployedFunctions();
  const planned = JSON.parse(JSON.stringify(await functions.plan({ source: 'schedule' }))) as { apply: boolean; plan: unknown; shardsKey: string };
  const invocations: Invocation[] = [];
  // The seeding went through the proxy too: only the sweep's calls count.
  proxy.clear();
  slowReads();
  const results = await runDistributedMap({
    bucket: BUCKET,
    state: planned,
    runItem: async (input) => {
      invocations.push(input as Invocation);
      return functions.shard(input, lambdaContext());
    },
  });
  const calls = [...proxy.calls];
  proxy.clear();
  const report = (await functions.report({ apply: planned.apply, plan: planned.plan, results })) as SweepReport;
  return { report, invocations, calls };
};

/** Every instance allows IMDSv1, so that each piece reads evidence and imports findings. */
const seedShard = async (local: LocalAws) => {
  const [member = ''] = await local.createOrganization(['big']);
  const run = async (count: number, tags: Record<string, string> = {}) => local.runInstances(member, REGION, { count, tags });
  const clean = [...(await run(4, { Name: 'web' })), ...(await run(2, { workload: 'ecs' }))];
  const v1 = await run(3, { Name: 'legacy' });
  const noData = await run(2);
  const exempt = await run(1, { 'imds-exempt': 'true' });
  await local.putNoTokenCalls(member, REGION, {
    ...Object.fromEntries(clean.map((id) => [id, days(14)])),
    ...Object.fromEntries(v1.map((id) => [id, days(14, 42)])),
    ...Object.fromEntries(exempt.map((id) => [id, days(14)])),
  });
  return { member, clean, v1, noData, exempt, all: [...clean, ...v1, ...noData, ...exempt] };
};

/** An ACTIVE finding left by an earlier sweep for an instance that has since been terminated. */
const seedGoneInstanceFinding = async (local: LocalAws, member: string) => {
  const [gone = ''] = await local.runInstances(member, REGION);
  await local.terminate(member, REGION, [gone]);
  const shard = { accountId: member, region: REGION };
  const facts = { instanceId: gone, state: 'running', launchTime: undefined, tags: {}, instanceProfileArn: undefined, metadata: { httpTokens: 'optional' as const, httpEndpoint: 'enabled' as const, hopLimit: 1, state: 'applied' as const } };
  const result = { ...shard, instanceId: gone, verdict: 'insufficient-evidence' as const, reason: 'no datapoints', noTokenCalls: 0, observedDays: 0, hopLimit: 1, changed: false };
  const finding = buildFinding({ partition: 'aws', shard, facts, result, lookbackDays: 14, minObservedDays: 7, now: new Date() });
  const securityHub = new SecurityHubClient({ region: REGION, credentials: await local.credentials(member) });
  await securityHub.send(new BatchImportFindingsCommand({ Findings: [finding] as never }));
  return gone;
};

const prepare = (member: string, overrides: PolicyInput = {}) =>
  prepareDeployment(BUCKET, testPolicy({ scope: { accounts: [member], regions: [REGION] }, ...overrides }));

/** The finding Ids each BatchImportFindings sent, over all invocations. */
const importedIds = (calls: typeof proxy.calls) =>
  calls.flatMap((c) => (Array.isArray(c.params.Findings) ? (c.params.Findings as Array<{ Id: string }>).map((f) => f.Id) : []));

describe('a shard larger than one invocation allows', () => {
  it('finishes across invocations, reporting every instance exactly once and archiving a vanished one once', async () => {
    const local = aws();
    const seeded = await seedShard(local);
    const gone = await seedGoneInstanceFinding(local, seeded.member);
    await prepare(seeded.member);

    const { report, invocations, calls } = await runSweep();

    // Twelve instances in pieces of four: one piece per invocation, each starting after the last.
    expect(invocations).toHaveLength(3);
    expect(invocations[0]).not.toHaveProperty('cursor');
    const afters = invocations.slice(1).map((i) => i.cursor?.after ?? '');
    expect(afters).toEqual([...seeded.all].sort().filter((_, n) => n === PIECE - 1 || n === 2 * PIECE - 1));
    expect(invocations.slice(1).map((i) => i.cursor?.invocations)).toEqual([1, 2]);
    // The report sums the pieces: each instance once, in its verdict.
    expect(report.errors).toEqual([]);
    expect(report.summary).toMatchObject({
      byVerdict: { enforce: 6, 'blocked-v1-in-use': 3, 'insufficient-evidence': 2, exempt: 1, error: 0, gone: 0 },
      instances: 12,
      changed: 6,
      toChange: 0,
      errors: 0,
      shards: 1,
    });
    // Security Hub: each instance's finding imported once, the vanished one archived once.
    const sent = importedIds(calls);
    expect(sent.sort()).toEqual([...seeded.all, gone].map((id) => findingId({ accountId: seeded.member, region: REGION }, id)).sort());
    expect(report.findings).toMatchObject({ imported: 13, failed: [] });
    const findings = await readFindings(local, seeded.member, REGION);
    const byInstance = new Map(findings.map((f) => [f.Resources?.[0]?.Id?.split('/').at(-1), f]));
    for (const id of seeded.clean) expect(byInstance.get(id)?.Compliance?.Status, id).toBe('PASSED');
    for (const id of [...seeded.v1, ...seeded.noData, ...seeded.exempt]) expect(byInstance.get(id)?.Compliance?.Status, id).toBe('FAILED');
    expect(byInstance.get(gone)?.RecordState).toBe('ARCHIVED');
    for (const id of seeded.clean) expect(await readInstance(local, seeded.member, REGION, id), id).toMatchObject({ httpTokens: 'required' });
  }, 120_000);

  it("holds the policy's cap on changes per account-region over every invocation of the run", async () => {
    const local = aws();
    const seeded = await seedShard(local);
    await prepare(seeded.member, { maxChangesPerAccountRegion: 2 });

    const { report, invocations } = await runSweep();

    expect(invocations.length).toBeGreaterThan(1);
    expect(report.summary).toMatchObject({ instances: 12, changed: 2, toChange: 4, errors: 0 });
    const required = [];
    for (const id of seeded.clean) if ((await readInstance(local, seeded.member, REGION, id)).httpTokens === 'required') required.push(id);
    expect(required).toHaveLength(2);
  }, 120_000);
});

// Reading MetadataNoToken for many instances when GetMetricData is slow, failing or
// looping: the real SDK, with production's client settings, → the fault proxy → moto_server.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_PAGES_PER_CALL } from '../../functions/adapters/cloudwatch.ts';
import { composeWorld } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { EvidenceReadError, PaginationError } from '../../functions/domain/errors.ts';
import type { MetricSums } from '../../functions/domain/model.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { evidenceWindow } from '../../functions/pipeline/observe.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { startFaultProxy, type Call, type FaultProxy } from '../support/fault-proxy.ts';
import { endpoint, sweep, useMoto } from '../support/moto.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();

const REGION = 'us-east-1';
const MAX_ATTEMPTS = 2;
// Each stalled attempt costs this long; moto answers the calls that pass in far less.
const TIMEOUT_MS = 3000;

let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(endpoint());
});
afterAll(() => proxy.close());
beforeEach(() => proxy.clear());

const instanceIds = (count: number) => Array.from({ length: count }, (_, n) => `i-${n.toString(16).padStart(17, '0')}`);

/**
 * One day of MetadataNoToken (1 to 5 calls) for every tenth instance; the others have no
 * datapoints. moto's GetMetricData scans every stored datapoint for each query, and a
 * sparse seed keeps its answers well inside the client timeout on a loaded machine.
 */
const seedEvidence = async (ids: string[]): Promise<Map<string, MetricSums>> => {
  const calls = (n: number) => (n % 10 === 0 ? 1 + ((n / 10) % 5) : undefined);
  const series = Object.fromEntries(ids.flatMap((id, n) => (calls(n) === undefined ? [] : [[id, [calls(n) ?? 0]]])));
  await aws().putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, series);
  return new Map(ids.map((id, n) => [id, { calls: calls(n) ?? 0, observedDays: calls(n) === undefined ? 0 : 1 }]));
};

const queries = (call: Call) => (Array.isArray(call.params.MetricDataQueries) ? call.params.MetricDataQueries.length : 0);
const firstInstance = (call: Call): unknown =>
  (call.params.MetricDataQueries as Array<{ MetricStat: { Metric: { Dimensions: Array<{ Value: string }> } } }>)[0]?.MetricStat.Metric.Dimensions[0]
    ?.Value;
/** The queries of each GetMetricData attempt that reached the proxy, in order (SDK retries included). */
const attempts = () => proxy.calls.filter((c) => c.operation === 'GetMetricData').map(queries);
const times = (n: number, size: number) => Array<number>(n).fill(size);

const PROXY_ENV = { AWS_MAX_ATTEMPTS: String(MAX_ATTEMPTS), AWS_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) };

/** Runs work with the SDK's standard endpoint variable pointed at the proxy. */
const throughProxy = async <T>(work: () => Promise<T>): Promise<T> => {
  const saved = process.env.AWS_ENDPOINT_URL;
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
  try {
    return await work();
  } finally {
    process.env.AWS_ENDPOINT_URL = saved;
  }
};

type Metrics = ReturnType<ReturnType<typeof composeWorld>['shard']>['metrics'];

/** The shard's MetricsPort as production composes it, through the proxy, with a small retry budget. */
const readThroughProxy = <T>(read: (metrics: Metrics) => Promise<T>) =>
  throughProxy(() => {
    const world = composeWorld({ policy: parsePolicy(testPolicy()), env: readEnvironment({ ...process.env, ...PROXY_ENV }) });
    return read(world.shard({ accountId: MANAGEMENT_ACCOUNT, region: REGION }).metrics);
  });

const window = () => evidenceWindow(parsePolicy(testPolicy()), new Date());

describe('reading evidence for many instances', () => {
  it.each([
    {
      instances: 2000,
      failAbove: 250,
      fault: 'stall' as const,
      // The 500-query call times out on each SDK attempt; then every call holds 250.
      expected: [...times(MAX_ATTEMPTS, 500), ...times(8, 250)],
    },
    {
      instances: 1000,
      failAbove: 125,
      fault: 'http-503' as const,
      expected: [...times(MAX_ATTEMPTS, 500), ...times(MAX_ATTEMPTS, 250), ...times(8, 125)],
    },
  ])('$instances instances, $fault on calls of more than $failAbove queries: a failed call is split in halves and every instance is still read', async ({ instances, failAbove, fault, expected }) => {
    const ids = instanceIds(instances);
    const seeded = await seedEvidence(ids);
    proxy.inject({ operation: 'GetMetricData', when: (c) => queries(c) > failAbove, fault });

    const evidence = await readThroughProxy((metrics) => metrics.countNoTokenCalls(ids, window()));

    expect(evidence).toEqual(seeded);
    expect(attempts()).toEqual(expected);
  });

  it('a call of the smallest size that still fails ends the read: the error names every id not read and keeps what was', async () => {
    const ids = instanceIds(1200);
    const seeded = await seedEvidence(ids);
    // The first 500 are read; from then on the service fails whatever the size.
    proxy.inject({ operation: 'GetMetricData', when: (c) => firstInstance(c) !== ids[0], fault: 'http-503' });

    const failure = await readThroughProxy((metrics) => metrics.countNoTokenCalls(ids, window())).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(EvidenceReadError);
    const { unreadIds, read } = failure as EvidenceReadError<MetricSums>;
    expect(unreadIds).toEqual(ids.slice(500));
    expect(read).toEqual(new Map([...seeded].slice(0, 500)));
    // 500, then halves down to 32 (its halves would be under 25 queries), each tried MAX_ATTEMPTS times.
    expect(attempts()).toEqual([500, ...[500, 250, 125, 63, 32].flatMap((size) => times(MAX_ATTEMPTS, size))]);
  });

  it('throttling is not split: more, smaller calls would only be throttled more', async () => {
    const ids = instanceIds(600);
    await seedEvidence(ids);
    proxy.inject({ operation: 'GetMetricData', fault: 'throttle' });

    const failure = await readThroughProxy((metrics) => metrics.countNoTokenCalls(ids, window())).catch((e: unknown) => e);

    expect(failure).toMatchObject({ name: 'Throttling' });
    expect(attempts()).toEqual(times(MAX_ATTEMPTS, 500));
  });

  it('rejected calls are read the same way, with a failed call split', async () => {
    const ids = instanceIds(700);
    await aws().putRejectedCalls(MANAGEMENT_ACCOUNT, REGION, Object.fromEntries(ids.flatMap((id, n) => (n % 10 === 0 ? [[id, [n % 3]]] : []))));
    proxy.inject({ operation: 'GetMetricData', when: (c) => queries(c) > 250, fault: 'http-500' });

    const rejected = await readThroughProxy((metrics) => metrics.countRejectedCalls(ids, window()));

    expect(new Map([...rejected].map(([id, sums]) => [id, sums.calls]))).toEqual(new Map(ids.map((id, n) => [id, n % 10 === 0 ? n % 3 : 0])));
    expect(attempts()).toEqual([...times(MAX_ATTEMPTS, 500), 250, 250, 200]);
  });
});

describe('a sweep whose large GetMetricData calls time out', () => {
  it('still decides every instance on its own evidence: no account-region error, every safe instance enforce', async () => {
    const local = aws();
    await local.createOrganization([]);
    const ids = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 120 });
    // 14 days without a v1 call for each, except every tenth, which made v1 calls.
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, Object.fromEntries(ids.map((id, n) => [id, days(14, n % 10 === 0 ? 4 : 0)])));
    proxy.inject({ operation: 'GetMetricData', when: (c) => queries(c) > 60, fault: 'stall' });

    const { report } = await throughProxy(() => sweep(testPolicy({ scope: { regions: [REGION] } }), { env: PROXY_ENV }));

    expect(report.errors).toEqual([]);
    expect(report.summary.byVerdict).toMatchObject({ enforce: 108, 'blocked-v1-in-use': 12, error: 0 });
    expect(attempts()).toEqual([...times(MAX_ATTEMPTS, 120), 60, 60]);
  });
});

describe('a GetMetricData answer that never ends', () => {
  it.each([
    { what: 'repeats its NextToken', reason: 'repeated-token', calls: 2, next: () => 'same-token' },
    { what: 'gives a new NextToken every time', reason: 'page-cap', calls: MAX_PAGES_PER_CALL, next: (n: number) => `token-${n}` },
  ])('$what: the read stops with a PaginationError after $calls calls', async ({ reason, calls, next }) => {
    const ids = instanceIds(3);
    await seedEvidence(ids);
    let answers = 0;
    // moto ignores NextToken; the proxy adds one to each answer, as a looping service would.
    proxy.inject({ operation: 'GetMetricData', fault: { rewrite: (answer) => ({ ...answer, NextToken: next(answers++) }) } });

    const failure = await readThroughProxy((metrics) => metrics.countNoTokenCalls(ids, window())).catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(PaginationError);
    expect(failure).toMatchObject({ operation: 'GetMetricData', reason });
    expect(attempts()).toHaveLength(calls);
  });
});

type Series = { Id?: string; StatusCode?: string; Timestamps?: unknown[]; Values?: number[] };
const rewriteSeries = (change: (series: Series) => Series) => ({
  rewrite: (answer: Record<string, unknown>) => ({ ...answer, MetricDataResults: (answer.MetricDataResults as Series[]).map(change) }),
});

describe('what a GetMetricData answer says of each series (issue 12, finding 5)', () => {
  it.each([
    {
      what: 'a series answering InternalError with only its zero days',
      // The v1 user's calls are on its first days; the answer keeps only the zero days.
      change: (s: Series) => ({ ...s, StatusCode: 'InternalError', Values: (s.Values ?? []).map(() => 0) }),
      seeded: [500, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      verdict: 'error',
    },
    {
      what: 'a series whose last page says PartialData',
      change: (s: Series) => ({ ...s, StatusCode: 'PartialData' }),
      seeded: days(14, 0),
      verdict: 'error',
    },
    {
      what: 'the same four days served twice',
      change: (s: Series) => ({ ...s, Timestamps: [...(s.Timestamps ?? []), ...(s.Timestamps ?? [])], Values: [...(s.Values ?? []), ...(s.Values ?? [])] }),
      seeded: days(4, 0),
      // Four distinct days, under the seven required: not eight observed days.
      verdict: 'insufficient-evidence',
    },
  ])('$what is not evidence to enforce on: $verdict', async ({ change, seeded, verdict }) => {
    const local = aws();
    await local.createOrganization([]);
    const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [id]: seeded });
    proxy.inject({ operation: 'GetMetricData', fault: rewriteSeries(change) });

    const { report } = await throughProxy(() => sweep(testPolicy({ scope: { regions: [REGION] } }), { apply: true, env: PROXY_ENV }));

    expect(report.instances).toEqual([expect.objectContaining({ instanceId: id, verdict, changed: false })]);
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });
});

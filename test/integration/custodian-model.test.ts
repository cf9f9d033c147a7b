// The bench's Cloud Custodian model makes the calls its source says it makes (bench/README.md),
// through the real SDK against moto: one DescribeInstances page and one session per
// account-region, one more session per metrics thread, one GetMetricStatistics per instance
// that needs evidence, ceil(instances / batch_size) BatchImportFindings, and production's verdicts.
import { afterEach, describe, expect, it } from 'vitest';
import { countCalls, sortedCounts } from '../../bench/count-calls.ts';
import { METRICS_CHUNK, METRICS_THREADS, runCustodian } from '../../bench/custodian.ts';
import { random, seedShard } from '../../bench/org.ts';
import { benchPolicy } from '../../bench/policy.ts';
import { AWS_RATE_LIMITS, startRateLimitProxy, type RateLimitProxy } from '../../bench/rate-limit-proxy.ts';
import { motoEnvironment } from '../../local/moto-server.ts';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { endpoint, sweep, useMoto } from '../support/moto.ts';

const { aws } = useMoto();

/** The seeded kinds whose instances allow IMDSv1 with IMDS on: those the metrics filter reads. */
const NEEDS_EVIDENCE = ['enforce', 'enforce-container', 'v1-in-use', 'young', 'no-data', 'exempt'];

const NOW = new Date();

/** One account-region per entry, in a one-account organization; what each holds. */
const seed = async (sizes: Record<string, number>) => {
  await aws().createOrganization([]);
  const rand = random(7);
  const shards: Array<{ region: string; instances: number; needing: number }> = [];
  for (const [region, instances] of Object.entries(sizes)) {
    const byKind: Record<string, number> = {};
    await seedShard(aws(), MANAGEMENT_ACCOUNT, region, instances, 14, rand, byKind);
    shards.push({ region, instances, needing: NEEDS_EVIDENCE.reduce((sum, kind) => sum + (byKind[kind] ?? 0), 0) });
  }
  return shards;
};

const model = async (regions: string[], batchSize: number) => {
  const counter = countCalls();
  const result = await runCustodian(benchPolicy(regions, 14), {
    homeRegion: 'us-east-1',
    concurrency: 8,
    batchSize,
    customizeClient: counter.customizeClient,
    now: NOW,
  });
  return { result, calls: sortedCounts(counter.byOperation) };
};

describe('the Custodian model', () => {
  it.each([1, 100])('makes the calls Custodian makes, post-finding batch_size %i, and reaches production’s verdicts', async (batchSize) => {
    // us-east-1 needs more than 3 chunks of 50 (all three metrics threads), eu-west-1 one.
    const shards = await seed({ 'us-east-1': 420, 'eu-west-1': 40 });
    const regions = shards.map((s) => s.region);

    const { result, calls: all } = await model(regions, batchSize);

    // DescribeEC2.augment draws one instance at random: one DescribeTags when it has no tags.
    const { DescribeTags: describeTags = 0, ...calls } = all;
    expect(describeTags).toBeLessThanOrEqual(shards.length);

    const threads = (needing: number) => Math.min(METRICS_THREADS, Math.ceil(needing / METRICS_CHUNK));
    expect(calls).toEqual({
      // c7n-org's session per account-region, and one per metrics thread (local_session is thread-local).
      AssumeRole: shards.reduce((sum, s) => sum + 1 + threads(s.needing), 0),
      BatchImportFindings: shards.reduce((sum, s) => sum + Math.ceil(s.instances / batchSize), 0),
      // No MaxResults: moto answers with one page, as AWS does for an unpaginated call.
      DescribeInstances: shards.length,
      GetMetricStatistics: shards.reduce((sum, s) => sum + s.needing, 0),
    });
    expect(shards[0]?.needing).toBeGreaterThan(METRICS_THREADS * METRICS_CHUNK);
    expect(result.errors).toBe(0);
    const { report } = await sweep(benchPolicy(regions, 14), { now: () => NOW });
    const nonZero = (byVerdict: Record<string, number | undefined>) => Object.fromEntries(Object.entries(byVerdict).filter(([, n]) => (n ?? 0) > 0));
    expect(nonZero(result.byVerdict)).toEqual(nonZero(report.summary.byVerdict));
  }, 180_000);

  describe('under AWS’s rate limits', () => {
    let proxy: RateLimitProxy | undefined;
    afterEach(async () => {
      Object.assign(process.env, motoEnvironment(endpoint()));
      await proxy?.close();
      proxy = undefined;
    });

    it('retries a throttled BatchImportFindings as botocore and c7n do: one call counted, every finding imported', async () => {
      const [shard] = await seed({ 'us-east-1': 20 });
      // A smaller Security Hub bucket than AWS's, on a clock that moves 100 ms a call whatever
      // the machine's speed: half a token a call, so that once the 5 are spent every other
      // attempt is throttled (and never five in a row).
      const limits = AWS_RATE_LIMITS.map((l) => (l.name === 'securityhub:BatchImportFindings' ? { ...l, capacity: 5, refillPerSecond: 5 } : l));
      let clock = 0;
      proxy = await startRateLimitProxy(endpoint(), { limits, now: () => (clock += 100) });
      Object.assign(process.env, motoEnvironment(proxy.endpoint));

      const { result, calls } = await model(['us-east-1'], 1);

      expect(result.errors).toBe(0);
      expect(calls.BatchImportFindings).toBe(shard?.instances);
      expect(proxy.throttled().BatchImportFindings ?? 0).toBeGreaterThan(0);
      // Every attempt the proxy let through reached Security Hub: one finding each.
      expect(proxy.forwarded().BatchImportFindings).toBe(shard?.instances);
    }, 180_000);
  });
});

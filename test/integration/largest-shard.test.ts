// The bench's largest-shard phase (bench/largest-shard.ts) at a small size, against moto behind
// the rate-limit proxy: what it reports is what the deployed handlers did. Timing is the bench's;
// this checks the accounting only.
import { describe, expect, it } from 'vitest';
import { measureLargestShard, projectLargestShard } from '../../bench/largest-shard.ts';
import { endpoint, useMoto } from '../support/moto.ts';

useMoto();

const INSTANCES = 1_050;

/** The shared moto_server, as the bench takes one given with --moto-endpoint: reset, never stopped. */
const sharedMoto = () => ({
  endpoint: endpoint(),
  reset: async () => {
    const res = await fetch(`${endpoint()}/moto-api/reset`, { method: 'POST' });
    if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
  },
  stop: async () => undefined,
});

describe("the bench's largest shard", () => {
  it('reports one duration per sweep-shard invocation and every seeded instance once, in pages of at most 1,000', async () => {
    const result = await measureLargestShard(
      sharedMoto(),
      { instances: INSTANCES, region: 'us-east-1', seed: 7, lookbackDays: 14, apply: false },
      (_what, work) => work(),
    );

    expect(result).toMatchObject({ instances: INSTANCES, limitMs: 900_000 });
    expect(result.runs.map((r) => r.mode)).toEqual(['plan', 'plan']);
    const [firstDay, steady] = result.runs;
    for (const run of [firstDay, steady]) {
      if (!run) throw new Error('a run is missing');
      expect(run.invocations.length).toBeGreaterThan(0);
      // Each invocation lists the account-region again: ⌈1,050 / 1,000⌉ pages each, as AWS pages it.
      expect(run.callsByOperation.DescribeInstances).toBe(2 * run.invocations.length);
      expect(run.invocations.reduce((a, i) => a + i.reported, 0)).toBe(INSTANCES);
      expect(run.invocations.at(-1)?.done).toBe(true);
      expect(run.maxInvocationMs).toBe(Math.max(...run.invocations.map((i) => i.ms)));
      expect(run.instances).toBe(INSTANCES);
    }
    // The first day finds no findings and imports every one; the steady state reads them all back.
    expect(firstDay?.callsByOperation.GetFindings).toBe(firstDay?.invocations.length);
    expect(firstDay?.callsByOperation.BatchImportFindings).toBeGreaterThanOrEqual(Math.ceil(INSTANCES / 100));
    expect(steady?.callsByOperation.GetFindings).toBe(Math.ceil(INSTANCES / 100) * (steady?.invocations.length ?? 0));
    expect(result.invocations).toBe(Math.max(firstDay?.invocations.length ?? 0, steady?.invocations.length ?? 0));
  }, 300_000);
});

describe('the projection to 50,000 instances', () => {
  it('pages the listing and the findings read as AWS does and paces each call at its bucket', () => {
    const projection = projectLargestShard({ instances: 10_000, callsByOperation: { GetMetricData: 8, BatchImportFindings: 50 } }, 0.2, 900_000);

    const calls = Object.fromEntries(projection.steadyState.phases.map((p) => [p.call, p]));
    expect(calls.DescribeInstances).toMatchObject({ calls: 50, seconds: 50 });
    // 500 pages at Security Hub's 3 a second after its burst of 6.
    expect(calls.GetFindings).toMatchObject({ calls: 500, seconds: 164.7 });
    expect(calls.GetMetricData).toMatchObject({ calls: 40, seconds: 40 });
    expect(calls.BatchImportFindings).toMatchObject({ calls: 250, seconds: 75 });
    expect(projection.steadyState).toMatchObject({ seconds: 329.7, invocations: 1 });
    // 10,000 changes: 5 pieces an invocation after 214.7 s of setup, the first with the bucket's burst.
    expect(projection.rollout).toMatchObject({ changes: 10_000, invocations: 4 });
    expect(projection.rollout.longestInvocationS).toBeLessThanOrEqual(projection.workingSeconds);
    expect(projection.worstRollout).toMatchObject({ changes: 20_000, invocations: 8 });
  });
});

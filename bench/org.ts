// Seeds a synthetic organization for the benchmark: the same seed gives the same verdict mix.
import { days, LocalAws, MANAGEMENT_ACCOUNT, type InstanceSpec } from '../local/local-aws.ts';

export const ALL_REGIONS = ['us-east-1', 'eu-west-1', 'us-west-2', 'ap-southeast-2', 'eu-central-1'] as const;

export interface OrgParams {
  accounts: number;
  regions: string[];
  instancesPerRegion: number;
  seed: number;
  lookbackDays: number;
}

/** What a steady-state organization looks like on a given day, with the verdict each kind earns. */
const KINDS = [
  { kind: 'compliant', weight: 50, spec: { httpTokens: 'required', hopLimit: 1, tags: { Name: 'web' } }, data: null },
  { kind: 'compliant-container', weight: 5, spec: { httpTokens: 'required', hopLimit: 2, tags: { workload: 'ecs' } }, data: null },
  { kind: 'imds-off', weight: 2, spec: { httpEndpoint: 'disabled' }, data: null },
  { kind: 'hop-limit-drift', weight: 3, spec: { httpTokens: 'required', hopLimit: 1, tags: { 'eks:cluster-name': 'prod' } }, data: null },
  { kind: 'enforce', weight: 12, spec: { tags: { Name: 'api' } }, data: 'zero' },
  { kind: 'enforce-container', weight: 3, spec: { tags: { workload: 'docker' } }, data: 'zero' },
  { kind: 'v1-in-use', weight: 12, spec: { tags: { Name: 'legacy' } }, data: 'calls' },
  { kind: 'young', weight: 4, spec: { tags: { Name: 'batch' } }, data: 'young' },
  { kind: 'no-data', weight: 4, spec: { tags: { Name: 'stopped-long' } }, data: null },
  { kind: 'exempt', weight: 5, spec: { tags: { 'imds-exempt': 'true' } }, data: 'zero' },
] as const satisfies ReadonlyArray<{ kind: string; weight: number; spec: InstanceSpec; data: 'zero' | 'calls' | 'young' | null }>;

export type Kind = (typeof KINDS)[number]['kind'];

/** mulberry32: small, seedable, good enough to spread kinds. */
const random = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

/** How many instances of each kind one account-region gets. */
export const mixFor = (instances: number, rand: () => number): Map<Kind, number> => {
  const total = KINDS.reduce((sum, k) => sum + k.weight, 0);
  const mix = new Map<Kind, number>();
  for (let n = 0; n < instances; n++) {
    let pick = rand() * total;
    const chosen = KINDS.find((k) => (pick -= k.weight) < 0) ?? KINDS[0];
    mix.set(chosen.kind, (mix.get(chosen.kind) ?? 0) + 1);
  }
  return mix;
};

const RUN_INSTANCES_MAX = 500;

export interface SeededOrg {
  accounts: string[];
  byKind: Record<string, number>;
  instances: number;
  datapoints: number;
}

export const seedOrg = async (params: OrgParams, aws = new LocalAws()): Promise<SeededOrg> => {
  const rand = random(params.seed);
  const members = await aws.createOrganization(
    Array.from({ length: Math.max(0, params.accounts - 1) }, (_, n) => `member-${String(n + 1).padStart(4, '0')}`),
  );
  const accounts = [MANAGEMENT_ACCOUNT, ...members];
  const byKind: Record<string, number> = {};
  let datapoints = 0;
  for (const accountId of accounts) {
    for (const region of params.regions) {
      datapoints += await seedShard(aws, accountId, region, params.instancesPerRegion, params.lookbackDays, rand, byKind);
    }
  }
  const instances = Object.values(byKind).reduce((a, b) => a + b, 0);
  return { accounts, byKind, instances, datapoints };
};

/** One account-region; returns how many MetadataNoToken datapoints it stored. */
export const seedShard = async (
  aws: LocalAws,
  accountId: string,
  region: string,
  instances: number,
  lookbackDays: number,
  rand: () => number,
  byKind: Record<string, number> = {},
  /** Cap on datapoints per series: the RSS run keeps moto's GetMetricData affordable. */
  maxDays = lookbackDays,
  /**
   * Instances a RunInstances call (a reservation) holds. moto pages DescribeInstances by
   * reservation (MaxResults counts reservations), so reservations of one make its pages
   * AWS's: at most 1,000 instances each.
   */
  perReservation = RUN_INSTANCES_MAX,
): Promise<number> => {
  const cap = (series: number[]) => series.slice(0, maxDays);
  const series: Record<string, number[]> = {};
  for (const [kind, count] of mixFor(instances, rand)) {
    const def = KINDS.find((k) => k.kind === kind);
    if (!def) continue;
    byKind[kind] = (byKind[kind] ?? 0) + count;
    for (let left = count; left > 0; left -= perReservation) {
      const ids = await aws.runInstances(accountId, region, { ...def.spec, count: Math.min(left, perReservation) });
      for (const id of ids) {
        // Only instances the sweep reads evidence for get datapoints: moto's GetMetricData scans
        // every stored datapoint per query, and the others' series would never be read anyway.
        if (def.data === 'zero') series[id] = cap(days(lookbackDays));
        if (def.data === 'calls') series[id] = cap(days(lookbackDays, 1 + Math.floor(rand() * 200)));
        if (def.data === 'young') series[id] = cap(days(3));
      }
    }
  }
  await aws.putNoTokenCalls(accountId, region, series);
  return Object.values(series).reduce((sum, s) => sum + s.length, 0);
};

export { random };

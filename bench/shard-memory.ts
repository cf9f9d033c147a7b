// How a deployed shard's memory grows, measured by `npm run bench -- --shard-only` (findings
// recorded, in pieces, as sweep-shard runs) at 1,000, 2,500 and 5,000 instances on moto: peak RSS
// 160–161, 206–207 and 274–277 MB, from 133–139 MB before the sweep. A line through them is
// about 132 MB plus 28.75 KB an instance; the model below rounds both up. It is an upper bound:
// moto answers every instance in one DescribeInstances page, where AWS sends at most 1,000.
// docs/SCALE.md derives sweep-shard's memorySize in serverless.yml from it, and the template
// test holds the two together.

export const SHARD_MEMORY = {
  /** Node, the bundle and the SDK before the sweep, with room to spare. */
  baseMb: 140,
  /** Each instance: its facts, evidence, result and finding while its piece runs. */
  perInstanceKb: 30,
  /** The largest account-region docs/SCALE.md plans for. */
  largestShardInstances: 50_000,
  /** For what the measurement did not hold: a steady-state read of 50,000 existing findings, tags longer than the bench's. */
  headroom: 1.25,
} as const;

/** The peak RSS the model expects of one shard of this many instances. */
export const shardMemoryMb = (instances: number): number => SHARD_MEMORY.baseMb + (instances * SHARD_MEMORY.perInstanceKb) / 1024;

/** The least memorySize sweep-shard needs for the largest shard, with the headroom. */
export const requiredShardMemoryMb = (): number => Math.ceil(shardMemoryMb(SHARD_MEMORY.largestShardInstances) * SHARD_MEMORY.headroom);

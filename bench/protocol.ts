// What bench/run.ts sends to a strategy process and what it reads back.
import { z } from 'zod';
import type { Verdict } from '../functions/domain/verdicts.ts';

export const RESULT_PREFIX = 'BENCH_RESULT ';

export const strategyInput = z.object({
  mode: z.enum(['production', 'apply', 'baseline', 'shard']),
  regions: z.array(z.string()).min(1),
  lookbackDays: z.int().min(1),
  concurrency: z.int().min(1),
  now: z.iso.datetime(),
});
export type StrategyInput = z.infer<typeof strategyInput>;

export interface StrategyResult {
  calls: number;
  callsByOperation: Record<string, number>;
  wallMs: number;
  peakRssMb: number;
  /** RSS just before the sweep: the part of the peak that is not the sweep's. */
  startRssMb: number;
  instances: number;
  byVerdict: Partial<Record<Verdict, number>>;
  changed: number;
  errors: number;
}

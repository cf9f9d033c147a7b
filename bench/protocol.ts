// What bench/run.ts sends to a strategy process and what it reads back.
import { z } from 'zod';
import { VERDICTS } from '../functions/domain/verdicts.ts';

export const RESULT_PREFIX = 'BENCH_RESULT ';

export const strategyInput = z.object({
  mode: z.enum(['production', 'apply', 'baseline', 'custodian', 'shard']),
  regions: z.array(z.string()).min(1),
  lookbackDays: z.int().min(1),
  concurrency: z.int().min(1),
  now: z.iso.datetime(),
  /** The Custodian model's post-finding batch_size (c7n/resources/securityhub.py: 1 to 100, default 1). */
  batchSize: z.int().min(1).max(100).default(1),
});
/** What the parent sends: batchSize may be left out. */
export type StrategyInput = z.input<typeof strategyInput>;

/** What a strategy process prints; validated where the parent reads it. */
export const strategyResult = z.object({
  calls: z.int().min(0),
  callsByOperation: z.record(z.string(), z.int().min(0)),
  wallMs: z.number().min(0),
  peakRssMb: z.number().min(0),
  /** RSS just before the sweep: the part of the peak that is not the sweep's. */
  startRssMb: z.number().min(0),
  /** Instances the run reported on, to compare with the instances seeded. */
  instances: z.int().min(0),
  byVerdict: z.partialRecord(z.enum(VERDICTS), z.int().min(0)),
  changed: z.int().min(0),
  /** Errors of whole account-regions plus instances whose verdict is `error`. */
  errors: z.int().min(0),
  /** The first few error messages, to say why a run failed. */
  errorMessages: z.array(z.string()),
});
export type StrategyResult = z.infer<typeof strategyResult>;

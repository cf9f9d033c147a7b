// What bench/largest-shard.ts hands the process that runs one deployed execution
// (bench/largest-shard-run.ts), and what that process prints back.
import { z } from 'zod';
import type { SweepReport } from '../functions/report/aggregate.ts';

export const LARGEST_SHARD_PREFIX = 'LARGEST_SHARD_RESULT ';

export const largestShardInput = z.object({
  bucket: z.string().min(1),
  /** sweep-shard's configured timeout (serverless.yml): each invocation's whole time. */
  timeoutMs: z.int().min(1),
});

/** One sweep-shard invocation, as the child workflow made it. */
export interface InvocationTiming {
  ms: number;
  /** Instances this invocation reported (its digest less the one it was handed). */
  reported: number;
  /** Instances it changed. */
  changed: number;
  done: boolean;
}

/** What the process prints after LARGEST_SHARD_PREFIX. */
export interface ExecutionResult {
  invocations: InvocationTiming[];
  summary: SweepReport['summary'];
  errors: string[];
  /** Plan, Map and report, end to end. */
  wallMs: number;
}


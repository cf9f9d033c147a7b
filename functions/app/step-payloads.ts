// The Step Functions payloads between the sweep's three functions, validated at each edge.
import { z } from 'zod';
import { formatIssues, InputError } from '../domain/errors.ts';
import { accountIdSchema as accountId, regionSchema as region } from '../domain/ids.ts';

const shard = z.object({ accountId, region });
const count = z.number().int().min(0);
const scopeError = z.object({ accountId: z.string(), region: z.string().nullable(), message: z.string() });

/** The execution input: `{"mode":"plan"}` makes one run a plan even where the deployment applies. */
export const sweepStartSchema = z.looseObject({ mode: z.enum(['plan', 'apply']).optional() });

export const shardEventSchema = z.object({
  shard: shard.extend({ accountExemption: z.string().optional() }),
  apply: z.boolean(),
});

export const digestSchema = z.object({
  shard,
  byVerdict: z.record(z.string(), z.number().int().min(0)),
  changed: z.number().int().min(0),
  errorCount: z.number().int().min(0),
  errors: z.array(scopeError),
  // Defaults: a digest of a shard function deployed before these fields existed still reads.
  toChange: z.number().int().min(0).default(0),
  nonCompliant: z.number().int().min(0).default(0),
  blocked: z.array(z.object({ instanceId: z.string(), noTokenCalls: z.number().int().min(0) })).default([]),
  findings: z
    .object({
      imported: count,
      unchanged: count,
      failedCount: count,
      failed: z.array(
        z.object({ accountId: z.string(), region: z.string(), instanceId: z.string(), findingId: z.string(), errorCode: z.string(), message: z.string() }),
      ),
    })
    .optional(),
});

const planSummary = z.object({
  accounts: z.number().int().min(0),
  shards: z.number().int().min(0),
  errors: z.array(scopeError),
  errorCount: z.number().int().min(0),
});

/** What the Distributed Map returns when its ResultWriter has written the results to S3. */
const mapRunResult = z.object({
  MapRunArn: z.string().min(1),
  ResultWriterDetails: z.object({ Bucket: z.string().min(1), Key: z.string().min(1) }),
});
export type MapRunResult = z.output<typeof mapRunResult>;

/** What a Catch hands on: the error of the Map state itself. */
const mapFailure = z.object({ Error: z.string(), Cause: z.string().nullish() });
export type MapFailure = z.output<typeof mapFailure>;

/** After the Map: its results, or (the Catch path) why the Map failed. */
export const reportEventSchema = z
  .object({ apply: z.boolean(), plan: planSummary, results: mapRunResult.optional(), failure: mapFailure.optional() })
  .refine((e) => (e.results === undefined) !== (e.failure === undefined), {
    path: ['results'],
    message: 'exactly one of results (the Map succeeded) and failure (the Map failed) is required',
  });

const resultFiles = z.array(z.object({ Key: z.string().min(1) }).loose()).default([]);

/** `manifest.json`: the result files by status; PENDING holds the items the Map Run never started. */
export const mapRunManifestSchema = z
  .object({
    ResultFiles: z.object({ SUCCEEDED: resultFiles, FAILED: resultFiles, PENDING: resultFiles }).loose(),
  })
  .loose();

/** One child execution in a result file; Input and Output are the JSON texts of its payloads. */
export const mapRunEntriesSchema = z.array(
  z
    .object({
      Status: z.string().nullish(),
      Input: z.string().nullish(),
      Output: z.string().nullish(),
      Error: z.string().nullish(),
      Cause: z.string().nullish(),
    })
    .loose(),
);
export type MapRunEntry = z.output<typeof mapRunEntriesSchema>[number];

export const parseEvent = <T extends z.ZodType>(schema: T, event: unknown, what: string): z.output<T> => {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  throw new InputError(`invalid ${what} event: ${formatIssues(parsed.error.issues).join('; ')}`);
};

// The Step Functions payloads between the sweep's three functions, validated at each edge.
import { z } from 'zod';
import { formatIssues, InputError } from '../domain/errors.ts';
import { UNSWEPT_REGIONS_MAX } from '../guardrails/readiness.ts';
import { accountIdSchema as accountId, instanceIdSchema, ouIdSchema, regionSchema as region } from '../domain/ids.ts';

const shard = z.object({ accountId, region });
const count = z.number().int().min(0);
const scopeError = z.object({ accountId: z.string(), region: z.string().nullable(), message: z.string() });

/** The execution input: `{"mode":"plan"}` makes one run a plan even where the deployment applies. */
export const sweepStartSchema = z.looseObject({ mode: z.enum(['plan', 'apply']).optional() });

export const digestSchema = z.object({
  shard,
  byVerdict: z.record(z.string(), z.number().int().min(0)),
  changed: z.number().int().min(0),
  errorCount: z.number().int().min(0),
  errors: z.array(scopeError),
  // Defaults: a digest of a shard function deployed before these fields existed still reads.
  toChange: z.number().int().min(0).default(0),
  nonCompliant: z.number().int().min(0).default(0),
  // No default: a digest without it leaves its account's readiness unknown, never ready.
  notReady: z.number().int().min(0).optional(),
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
  templates: z
    .object({
      byVerdict: z.record(z.string(), count),
      changed: count,
      allowingV1: count,
      pinnedGroups: count,
      launchConfigurations: count,
    })
    .optional(),
});

/** Where the last invocation of a shard stopped (functions/sweep/shard.ts ShardCursor). */
const shardCursor = z.object({ after: instanceIdSchema, invocations: z.number().int().min(1) });

/**
 * One invocation of sweep-shard: the Map's item (`shard`, `apply`), and in a continuation the
 * cursor and the digest of what earlier invocations reported (`sofar`), which travel together.
 */
export const shardEventSchema = z
  .object({
    shard: shard.extend({ accountExemption: z.string().optional() }),
    apply: z.boolean(),
    cursor: shardCursor.optional(),
    sofar: digestSchema.optional(),
  })
  .superRefine(({ shard: item, cursor, sofar }, ctx) => {
    if ((cursor === undefined) !== (sofar === undefined)) {
      ctx.addIssue({ code: 'custom', path: [cursor ? 'sofar' : 'cursor'], message: 'a continuation carries both its cursor and the digest so far' });
    }
    if (sofar && (sofar.shard.accountId !== item.accountId || sofar.shard.region !== item.region)) {
      ctx.addIssue({ code: 'custom', path: ['sofar', 'shard'], message: 'is not the shard of this invocation' });
    }
  });

/** Where sweep-plan wrote the organization: below shards/, which only it may write. */
export const ORGANIZATION_KEY = /^shards\/[\w\-/]{1,200}\.organization\.json$/;

const planSummary = z.object({
  accounts: z.number().int().min(0),
  shards: z.number().int().min(0),
  errors: z.array(scopeError),
  errorCount: z.number().int().min(0),
  organizationKey: z.string().regex(ORGANIZATION_KEY, 'must be a key below shards/ ending in .organization.json').optional(),
});

const name = z.string().max(256);
/** What sweep-plan writes at `organizationKey` (guardrails/readiness.ts SweepOrganization). */
export const sweepOrganizationSchema = z.object({
  tree: z.object({
    units: z.array(z.object({ id: ouIdSchema, name, parentId: ouIdSchema.nullable() })),
    accounts: z.array(z.object({ id: accountId, name, parentId: ouIdSchema })),
  }),
  plannedShards: z.record(accountId, z.number().int().min(0)),
  // Optional: a file written before it existed reads, and leaves every account's readiness unknown.
  unsweptRegions: z.record(accountId, z.array(region).max(UNSWEPT_REGIONS_MAX)).optional(),
});

/** What the Distributed Map returns when its ResultWriter has written the results to S3. */
const mapRunResult = z.object({
  MapRunArn: z.string().min(1),
  ResultWriterDetails: z.object({ Bucket: z.string().min(1), Key: z.string().min(1) }),
});
export type MapRunResult = z.output<typeof mapRunResult>;

/** What a Catch hands on: the error of the state that failed. */
const mapFailure = z.object({ Error: z.string(), Cause: z.string().nullish() });
export type MapFailure = z.output<typeof mapFailure>;

/**
 * The state whose Catch sent the report. A report without it comes from the Map's Catch, which is
 * all that existed before the Plan and Report steps had their own.
 */
const failedStep = z.enum(['Plan', 'Shards', 'Report']);

/** A report event once validated: the Map's results, or the failure of one step. */
export type ReportEvent =
  | { kind: 'results'; apply: boolean; plan: z.output<typeof planSummary>; results: MapRunResult }
  | { kind: 'failed'; step: 'Shards' | 'Report'; apply: boolean; plan: z.output<typeof planSummary>; failure: MapFailure }
  | { kind: 'failed'; step: 'Plan'; failure: MapFailure };

/**
 * After the Map: its results, or (a Catch path) why a step failed. A failed Plan leaves no plan
 * summary and no mode to pass on, so only that failure may come without them.
 */
export const reportEventSchema = z
  .object({
    apply: z.boolean().optional(),
    plan: planSummary.optional(),
    results: mapRunResult.optional(),
    failure: mapFailure.optional(),
    failedStep: failedStep.optional(),
  })
  .transform(({ apply, plan, results, failure, failedStep }, ctx): ReportEvent => {
    const refuse = (field: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [field], message });
      return z.NEVER;
    };
    if ((results === undefined) === (failure === undefined)) {
      return refuse('results', 'exactly one of results (the Map succeeded) and failure (a step failed) is required');
    }
    if (failedStep !== undefined && failure === undefined) return refuse('failedStep', 'a failed step comes with its failure');
    if (failure && failedStep === 'Plan') return { kind: 'failed', step: 'Plan', failure };
    if (apply === undefined || plan === undefined) return refuse('plan', 'apply and plan are required unless the Plan step failed');
    if (results) return { kind: 'results', apply, plan, results };
    if (failure && failedStep !== 'Plan') return { kind: 'failed', step: failedStep ?? 'Shards', apply, plan, failure };
    return refuse('results', 'exactly one of results and failure is required');
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

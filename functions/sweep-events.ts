// The Step Functions payloads between the sweep's three functions, validated at each edge.
import { z } from 'zod';
import { InputError } from './core/errors.ts';

const accountId = z.string().regex(/^\d{12}$/);
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/);
const shard = z.object({ accountId, region });
const scopeError = z.object({ accountId: z.string(), region: z.string().nullable(), message: z.string() });

/** The execution input: `{"mode":"plan"}` makes one run a plan even where the deployment applies. */
export const sweepStartSchema = z.looseObject({ mode: z.enum(['plan', 'apply']).optional() });

export const shardEventSchema = z.object({
  shard: shard.extend({ accountExemption: z.string().optional() }),
  apply: z.boolean(),
});

const digest = z.object({
  shard,
  byVerdict: z.record(z.string(), z.number().int().min(0)),
  changed: z.number().int().min(0),
  errorCount: z.number().int().min(0),
  errors: z.array(scopeError),
});

/** A child execution that failed as a whole: Step Functions' error output. */
const mapFailure = z.object({ Error: z.string(), Cause: z.string().optional() });

export const reportEventSchema = z.object({
  apply: z.boolean(),
  plan: z.object({
    accounts: z.number().int().min(0),
    shards: z.number().int().min(0),
    errors: z.array(scopeError),
    errorCount: z.number().int().min(0),
  }),
  results: z.array(z.union([digest, mapFailure])),
});

export const parseEvent = <T extends z.ZodType>(schema: T, event: unknown, what: string): z.output<T> => {
  const parsed = schema.safeParse(event);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new InputError(`invalid ${what} event: ${problems.join('; ')}`);
};

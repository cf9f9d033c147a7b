import { z } from 'zod';
import { InputError } from './core/errors.ts';

const envSchema = z.object({
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  AWS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).optional(),
  AWS_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(900_000).optional(),
  POWERTOOLS_LOG_LEVEL: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT', 'CRITICAL']))
    .optional(),
});

export interface Environment {
  /** Where account-wide calls (Organizations, STS, DescribeRegions) go. */
  homeRegion: string;
  maxAttempts: number;
  /** Each HTTP attempt is abandoned (and retried by the SDK) after this long. */
  requestTimeoutMs: number;
  logLevel: string;
}

/** Reads the environment once, at the edge, and names the variable that is wrong. */
export const readEnvironment = (env: NodeJS.ProcessEnv = process.env): Environment => {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new InputError(`invalid environment: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    homeRegion: e.AWS_REGION ?? e.AWS_DEFAULT_REGION ?? 'us-east-1',
    maxAttempts: e.AWS_MAX_ATTEMPTS ?? 5,
    // The SDK's own default is a 15-minute socket timeout: one stalled connection would
    // hold a shard (or a Lambda) for the whole of its time.
    requestTimeoutMs: e.AWS_REQUEST_TIMEOUT_MS ?? 30_000,
    logLevel: e.POWERTOOLS_LOG_LEVEL ?? 'INFO',
  };
};

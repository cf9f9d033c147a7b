import { z } from 'zod';
import { InputError } from './core/errors.ts';
import { Secret } from './core/secret.ts';

const envSchema = z.object({
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  AWS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).optional(),
  POWERTOOLS_LOG_LEVEL: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT', 'CRITICAL']))
    .optional(),
  // The message names the variable, never the value.
  SLACK_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  SLACK_WEBHOOK_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN')
    .optional(),
});

/** Where the Slack incoming webhook URL comes from; undefined when Slack is not set up. */
export type SlackWebhookSource = { url: Secret } | { secretArn: string; region: string } | undefined;

export interface Environment {
  /** Where account-wide calls (Organizations, STS, DescribeRegions) go. */
  homeRegion: string;
  maxAttempts: number;
  logLevel: string;
  slack: SlackWebhookSource;
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
    logLevel: e.POWERTOOLS_LOG_LEVEL ?? 'INFO',
    slack: e.SLACK_WEBHOOK_URL
      ? { url: new Secret(e.SLACK_WEBHOOK_URL) }
      : e.SLACK_WEBHOOK_SECRET_ARN
        ? { secretArn: e.SLACK_WEBHOOK_SECRET_ARN, region: e.SLACK_WEBHOOK_SECRET_ARN.split(':')[3] ?? 'us-east-1' }
        : undefined,
  };
};

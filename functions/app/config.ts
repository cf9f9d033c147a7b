import { z } from 'zod';
import { formatIssues, InputError } from '../domain/errors.ts';
import { Secret } from '../domain/secret.ts';
import { PIECE_MAX_INSTANCES } from '../sweep/pieces.ts';

// Empty variables (as CloudFormation leaves an unset parameter) count as absent.
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

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
  // The message names the variable, never the value.
  SLACK_WEBHOOK_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
  SLACK_WEBHOOK_SECRET_ARN: optional(
    z.string().regex(/^arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN'),
  ),
});

/** Where the Slack incoming webhook URL comes from; undefined when Slack is not set up. */
export type SlackWebhookSource = { url: Secret } | { secretArn: string; region: string } | undefined;

export interface Environment {
  /** Where account-wide calls (Organizations, STS, DescribeRegions) go. */
  homeRegion: string;
  maxAttempts: number;
  /** Each HTTP attempt is abandoned (and retried by the SDK) after this long. */
  requestTimeoutMs: number;
  logLevel: string;
  slack: SlackWebhookSource;
}

/** Reads the environment once, at the edge, and names the variable that is wrong. */
export const readEnvironment = (env: NodeJS.ProcessEnv = process.env): Environment => {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new InputError(`invalid environment: ${formatIssues(parsed.error.issues).join('; ')}`);
  }
  const e = parsed.data;
  return {
    homeRegion: e.AWS_REGION ?? e.AWS_DEFAULT_REGION ?? 'us-east-1',
    maxAttempts: e.AWS_MAX_ATTEMPTS ?? 5,
    // The SDK's own default is a 15-minute socket timeout: one stalled connection would
    // hold a shard (or a Lambda) for the whole of its time.
    requestTimeoutMs: e.AWS_REQUEST_TIMEOUT_MS ?? 30_000,
    logLevel: e.POWERTOOLS_LOG_LEVEL ?? 'INFO',
    slack: e.SLACK_WEBHOOK_URL
      ? { url: new Secret(e.SLACK_WEBHOOK_URL) }
      : e.SLACK_WEBHOOK_SECRET_ARN
        ? { secretArn: e.SLACK_WEBHOOK_SECRET_ARN, region: e.SLACK_WEBHOOK_SECRET_ARN.split(':')[3] ?? 'us-east-1' }
        : undefined,
  };
};


/** serverless.yml sets each function's own wait; this is for a deployment that does not. */
const DEFAULT_LEASE_WAIT_SECONDS = 30;

const lambdaEnvSchema = z.object({
  SWEEP_MODE: optional(z.enum(['plan', 'apply'])),
  POLICY_SSM_PARAMETER: optional(z.string().regex(/^\/[\w.\-/]{1,1010}$/, 'must be an SSM parameter name starting with /')),
  POLICY_FILE: optional(z.string().min(1)),
  MEMBER_ROLE_NAME: optional(z.string().regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name')),
  MEMBER_PLAN_ROLE_NAME: optional(z.string().regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name')),
  LAMBDA_TASK_ROOT: optional(z.string().min(1)),
  SWEEP_BUCKET: optional(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')),
  LEASE_WAIT_SECONDS: optional(z.coerce.number().int().min(0, 'must be 0 to 600 seconds').max(600, 'must be 0 to 600 seconds')),
  SWEEP_PIECE_INSTANCES: optional(z.coerce.number().int().min(1).max(PIECE_MAX_INSTANCES)),
});

export interface LambdaEnvironment extends Environment {
  /** `apply` lets the sweep change instances (and only when the policy's mode is `enforce`). */
  mode: 'plan' | 'apply';
  /** Exactly one source: an SSM parameter name, or a file bundled with the function. */
  policySource: { ssmParameter: string } | { file: string };
  /** The role the deployment's IAM allows assuming; the policy must name the same one. */
  memberRoleName: string | undefined;
  /** The read-only role sweep-plan assumes in member accounts (infra/member-role.yml, PlanRole). */
  planRoleName: string | undefined;
  /**
   * The bucket that carries the Distributed Map's items and results (sweep-plan and
   * sweep-report) and the account-regions' leases (sweep-shard and on-instance-event).
   */
  sweepBucket: string | undefined;
  /** How long a run that may change instances waits for another run to release the account-region's lease. */
  leaseWaitMs: number;
  /**
   * Instances in one piece of a deployed shard (default PIECE_MAX_INSTANCES): smaller pieces
   * check the time more often, at the cost of a few more partial calls.
   */
  pieceInstances: number | undefined;
}

/** The Lambda functions' environment (set by serverless.yml), validated once per container. */
export const readLambdaEnvironment = (env: NodeJS.ProcessEnv = process.env): LambdaEnvironment => {
  const base = readEnvironment(env);
  const parsed = lambdaEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new InputError(`invalid environment: ${formatIssues(parsed.error.issues).join('; ')}`);
  }
  const e = parsed.data;
  const root = e.LAMBDA_TASK_ROOT ?? process.cwd();
  const file = e.POLICY_FILE ?? 'policy.yaml';
  return {
    ...base,
    mode: e.SWEEP_MODE ?? 'plan',
    policySource: e.POLICY_SSM_PARAMETER ? { ssmParameter: e.POLICY_SSM_PARAMETER } : { file: file.startsWith('/') ? file : `${root}/${file}` },
    memberRoleName: e.MEMBER_ROLE_NAME,
    planRoleName: e.MEMBER_PLAN_ROLE_NAME,
    sweepBucket: e.SWEEP_BUCKET,
    leaseWaitMs: (e.LEASE_WAIT_SECONDS ?? DEFAULT_LEASE_WAIT_SECONDS) * 1000,
    pieceInstances: e.SWEEP_PIECE_INSTANCES,
  };
};

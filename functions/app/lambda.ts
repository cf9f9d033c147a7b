// The Lambda edge shared by the handlers: environment, policy and clients, read once per container.
import type { Logger } from '@aws-lambda-powertools/logger';
import { randomUUID } from 'node:crypto';
import { composeJsonStore, composeLeaseStore, composeParameterReader, composeWorld } from './compose.ts';
import { readLambdaEnvironment, type LambdaEnvironment } from './config.ts';
import { InputError } from '../domain/errors.ts';
import type { Policy } from '../domain/policy.ts';
import { loadPolicy } from './load-policy.ts';
import { logger } from './lambda-logger.ts';
import type { Log } from '../domain/log.ts';
import type { LeaseOptions } from '../pipeline/lease.ts';
import type { LeaseStore } from '../pipeline/ports.ts';
import type { JsonStore, World } from '../sweep/ports.ts';
import { mayChange } from '../domain/verdicts.ts';

export interface LambdaRuntime {
  env: LambdaEnvironment;
  policy: Policy;
  world: World;
  log: Log;
  /** The sweep may change instances: SWEEP_MODE=apply and the policy's mode is `enforce`. */
  apply: boolean;
}

let store: JsonStore | undefined;

/** The sweep bucket (SWEEP_BUCKET), which sweep-plan and sweep-report cannot do without; one client per container. */
export const sweepStore = (env: LambdaEnvironment): JsonStore => {
  if (env.sweepBucket === undefined) {
    throw new InputError("invalid environment: SWEEP_BUCKET: required (the bucket that carries the Distributed Map's items and results)");
  }
  store ??= composeJsonStore(env, env.sweepBucket);
  return store;
};

let leases: LeaseStore | undefined;

/** Lambda's longest run: a lease of a function that was not told its time left lasts this long, and the margin. */
const LAMBDA_MAX_MS = 900_000;
/** A lease outlives its holder's time left by this much: clocks of two functions may differ a little. */
const LEASE_MARGIN_MS = 60_000;

/**
 * The lease a function that may change instances holds on its account-region (SWEEP_BUCKET's
 * leases/ prefix); undefined without a bucket. It lasts the function's time left and a margin:
 * Lambda ends the holder by then, so a lease never expires under a live holder, and the lease
 * of one that crashed blocks the account-region only until then.
 */
export const leaseOptions = (env: LambdaEnvironment, functionName: string, remainingMs: number | undefined): LeaseOptions | undefined => {
  if (env.sweepBucket === undefined) return undefined;
  leases ??= composeLeaseStore(env, env.sweepBucket);
  return {
    store: leases,
    holder: `${functionName} ${randomUUID()}`,
    ttlMs: (remainingMs ?? LAMBDA_MAX_MS) + LEASE_MARGIN_MS,
    waitMs: env.leaseWaitMs,
  };
};

/** Reads and validates the policy from its SSM parameter or its bundled file. */
export const loadDeployedPolicy = async (env: LambdaEnvironment, readParameter: (name: string) => Promise<string>): Promise<Policy> => {
  const policy = await loadPolicy(env.policySource, readParameter);
  // IAM lets the functions assume only the deployed role name: a different one would fail in every account.
  if (env.memberRoleName !== undefined && env.memberRoleName !== policy.memberRoleName) {
    throw new InputError(
      `the policy's memberRoleName (${policy.memberRoleName}) differs from the deployed MEMBER_ROLE_NAME (${env.memberRoleName})`,
    );
  }
  return policy;
};

/** Powertools' logger behind the core's Log port. */
export const powertoolsLog = (logger: Logger): Log => ({
  debug: (message, attributes = {}) => logger.debug(message, attributes),
  info: (message, attributes = {}) => logger.info(message, attributes),
  warn: (message, attributes = {}) => logger.warn(message, attributes),
  error: (message, attributes = {}) => logger.error(message, attributes),
});

let runtime: Promise<LambdaRuntime> | undefined;

const build = async (): Promise<LambdaRuntime> => {
  const env = readLambdaEnvironment();
  const policy = await loadDeployedPolicy(env, composeParameterReader(env));
  const apply = mayChange(policy, env.mode === 'apply');
  return { env, policy, world: composeWorld({ policy, env, planRoleName: env.planRoleName }), log: powertoolsLog(logger), apply };
};

/** Built on the first invocation and kept for the container's life; a failure is retried next time. */
export const lambdaRuntime = (): Promise<LambdaRuntime> => {
  runtime ??= build().catch((error: unknown) => {
    runtime = undefined;
    throw error;
  });
  return runtime;
};

// Fault and call-count injection through SDK middleware on every client the composition root builds.
import type { MiddlewareStack } from '@smithy/types';
import type { AnyClient } from '../../functions/app/compose.ts';

export interface SeenCall {
  operation: string;
  input: Record<string, unknown>;
}

type Interceptor = (call: SeenCall) => void;

/** A customizeClient hook that shows every call to `intercept` first, which may throw to fail it. */
export const intercept =
  (name: string, onCall: Interceptor) =>
  (client: AnyClient): void => {
    (client.middlewareStack as MiddlewareStack<object, object>).add(
      (next, context) => async (args) => {
        onCall({ operation: String(context.commandName).replace(/Command$/, ''), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name },
    );
  };

/** Counts SDK calls by operation. */
export const recordCalls = () => {
  const calls: SeenCall[] = [];
  return { calls, customizeClient: intercept('recordCalls', (call) => void calls.push(call)) };
};

/** An error shaped as the SDK raises a service error: name is the AWS error code. */
export const awsError = (code: string, message: string) => Object.assign(new Error(message), { name: code });

/** Several customizeClient hooks as one, in order. */
export const allOf =
  (...hooks: Array<((client: AnyClient) => void) | undefined>) =>
  (client: AnyClient): void => {
    for (const hook of hooks) hook?.(client);
  };

/**
 * A customizeClient hook under which DescribeRegions says only `regions` are enabled, the others
 * `not-opted-in` (moto answers every region as enabled, and has no call to opt one out).
 */
export const enabledRegions =
  (regions: string[]) =>
  (client: AnyClient): void => {
    (client.middlewareStack as MiddlewareStack<object, object>).add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName !== 'DescribeRegionsCommand') return result;
        const output = result.output as { Regions?: Array<{ RegionName?: string; OptInStatus?: string }> };
        output.Regions = output.Regions?.map((r) => (regions.includes(r.RegionName ?? '') ? r : { ...r, OptInStatus: 'not-opted-in' }));
        return result;
      },
      { step: 'initialize', name: 'enabledRegions' },
    );
  };

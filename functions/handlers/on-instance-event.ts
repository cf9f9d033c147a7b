// EventBridge → one CloudTrail RunInstances / ModifyInstanceMetadataOptions event, forwarded
// from a member account to the central bus: the same decide → act → record → notify as the sweep.
import type { Context } from 'aws-lambda';
import type { SweepSummary } from '../report/aggregate.ts';
import { remediateEvent } from '../events/remediate-event.ts';
import { EventError } from '../events/instance-event.ts';
import { lambdaRuntime, leaseOptions } from '../app/lambda.ts';
import { logger } from '../app/lambda-logger.ts';

export type EventHandlerResult =
  | { status: 'handled'; summary: SweepSummary }
  | { status: 'ignored'; reason: string }
  | { status: 'rejected'; problems: string[] };

/**
 * Kept back from the function's time for what follows the last modify: the re-reads that
 * confirm the changes, the findings and the Slack messages of one event.
 */
export const AFTER_CHANGES_RESERVE_MS = 60_000;

/** Lambda's view of the time left; absent (a direct call), the event takes the time it needs. */
type RemainingTime = Pick<Context, 'getRemainingTimeInMillis'>;

export const handler = async (event: unknown, context?: RemainingTime): Promise<EventHandlerResult> => {
  const { env, world, policy, log, apply } = await lambdaRuntime();
  // A launch of thousands needs more than the function's time at EC2's pace: make what fits,
  // leave the rest to the scheduled sweep, and report it, instead of being killed at the timeout.
  const deadline = context ? Date.now() + context.getRemainingTimeInMillis() - AFTER_CHANGES_RESERVE_MS : undefined;
  try {
    // Another run that keeps the account-region longer than the wait makes this throw LeaseBusyError, which Lambda retries (below).
    const lease = leaseOptions(env, 'on-instance-event', context?.getRemainingTimeInMillis());
    const outcome = await remediateEvent(world, policy, event, { log, apply, deadline, lease });
    if (outcome.status === 'ignored') return { status: 'ignored', reason: outcome.reason ?? 'ignored' };
    logger.info('event handled', { mode: outcome.report.mode, summary: outcome.report.summary });
    return { status: 'handled', summary: outcome.report.summary };
  } catch (error) {
    // A malformed or untrusted event fails the same way every time: say what is wrong, and do not retry it.
    if (error instanceof EventError) {
      logger.error('event rejected', { problems: error.problems });
      return { status: 'rejected', problems: error.problems };
    }
    // Anything else (throttling, a role that cannot be assumed, a lease another run keeps) is retried by Lambda, then dead-lettered.
    throw error;
  }
};

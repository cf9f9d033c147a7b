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

export const handler = async (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<EventHandlerResult> => {
  const { env, world, policy, log, apply } = await lambdaRuntime();
  try {
    // Another run that keeps the account-region longer than the wait makes this throw LeaseBusyError, which Lambda retries (below).
    const lease = leaseOptions(env, 'on-instance-event', context?.getRemainingTimeInMillis());
    const outcome = await remediateEvent(world, policy, event, { log, apply, lease });
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

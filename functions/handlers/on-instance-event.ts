// EventBridge → one CloudTrail RunInstances / ModifyInstanceMetadataOptions event, forwarded
// from a member account to the central bus: the same decide → act → record → notify as the sweep.
import type { SweepSummary } from '../report/aggregate.ts';
import { remediateEvent } from '../events/remediate-event.ts';
import { EventError } from '../events/instance-event.ts';
import { lambdaRuntime } from '../app/lambda.ts';
import { logger } from '../app/lambda-logger.ts';

export type EventHandlerResult =
  | { status: 'handled'; summary: SweepSummary }
  | { status: 'ignored'; reason: string }
  | { status: 'rejected'; problems: string[] };

export const handler = async (event: unknown): Promise<EventHandlerResult> => {
  const { world, policy, log, apply } = await lambdaRuntime();
  try {
    const outcome = await remediateEvent(world, policy, event, { log, apply });
    if (outcome.status === 'ignored') return { status: 'ignored', reason: outcome.reason ?? 'ignored' };
    logger.info('event handled', { mode: outcome.report.mode, summary: outcome.report.summary });
    return { status: 'handled', summary: outcome.report.summary };
  } catch (error) {
    // A malformed event fails the same way every time: say what is wrong, and do not retry it.
    if (error instanceof EventError) {
      logger.error('event rejected', { problems: error.problems });
      return { status: 'rejected', problems: error.problems };
    }
    // Anything else (throttling, a role that cannot be assumed) is retried by Lambda, then dead-lettered.
    throw error;
  }
};

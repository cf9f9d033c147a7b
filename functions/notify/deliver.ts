// The notify step: a Slack failure is reported, never fatal to the run.
import { describeError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import type { NotificationOutcome } from './outcome.ts';
import { NotificationError, type Notifier } from './port.ts';
import type { SlackMessage } from './slack-message.ts';

export const deliver = async (
  notifier: Notifier | undefined,
  message: SlackMessage,
  log: Log,
  kind: string,
): Promise<NotificationOutcome> => {
  if (!notifier) return { status: 'not-configured' };
  try {
    const delivery = await notifier.post(message);
    log.info('slack message sent', { kind, attempts: delivery.attempts, waitedMs: delivery.waitedMs });
    return { status: 'sent', ...delivery };
  } catch (error) {
    const attempts = error instanceof NotificationError ? error.attempts : 1;
    const reason = describeError(error);
    log.error('slack message not sent', { kind, attempts, reason });
    return { status: 'failed', attempts, error: reason };
  }
};

/** Several messages (an event's auto-fixes, the rollback alerts), sent in order, reported as one outcome. */
export const deliverAll = async (
  notifier: Notifier | undefined,
  messages: SlackMessage[],
  log: Log,
  kind: string,
): Promise<NotificationOutcome> => {
  if (!notifier) return { status: 'not-configured' };
  let attempts = 0;
  let waitedMs = 0;
  let failure: string | undefined;
  for (const message of messages) {
    const outcome = await deliver(notifier, message, log, kind);
    if (outcome.status === 'sent') waitedMs += outcome.waitedMs;
    if (outcome.status === 'sent' || outcome.status === 'failed') attempts += outcome.attempts;
    if (outcome.status === 'failed') failure ??= outcome.error;
  }
  return failure ? { status: 'failed', attempts, error: failure } : { status: 'sent', attempts, waitedMs };
};

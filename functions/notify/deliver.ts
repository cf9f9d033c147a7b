// The notify step: a Slack failure is reported, never fatal to the run.
import type { Delivery, Log, Notifier } from '../ports.ts';
import { describeError } from '../domain/errors.ts';
import type { SlackMessage } from './slack-message.ts';

/** The webhook could not be reached or refused the message; the message never names the URL. */
export class NotificationError extends Error {
  override name = 'NotificationError';
  constructor(
    message: string,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export type NotificationOutcome =
  | { status: 'not-configured' }
  | ({ status: 'sent' } & Delivery)
  | { status: 'failed'; attempts: number; error: string };

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

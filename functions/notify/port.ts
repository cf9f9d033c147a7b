// Where people act: a Slack incoming webhook.
import type { Delivery } from './outcome.ts';
import type { SlackMessage } from './slack-message.ts';

/** Throws NotificationError once its retries are spent. */
export interface Notifier {
  post(message: SlackMessage): Promise<Delivery>;
}

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

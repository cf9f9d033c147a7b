// What became of a Slack message, for the report. A leaf module: the report imports it
// without importing the messages themselves.

export interface Delivery {
  attempts: number;
  /** Time spent waiting between attempts (Retry-After or back-off). */
  waitedMs: number;
}

export type NotificationOutcome =
  | { status: 'not-configured' }
  | ({ status: 'sent' } & Delivery)
  | { status: 'failed'; attempts: number; error: string };

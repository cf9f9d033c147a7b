// Slack incoming webhook over the platform's fetch. The URL is a Secret: it is revealed only
// to fetch, and no message, log line or error built here contains it.
import type { Secret } from '../domain/secret.ts';
import type { SlackMessage } from '../notify/slack-message.ts';
import { NotificationError, type Notifier } from '../notify/port.ts';
import type { Delivery } from '../notify/outcome.ts';
import { sleep } from '../domain/time.ts';

export interface SlackWebhookOptions {
  /** Attempts in all, 429s included. */
  maxAttempts?: number;
  /** First back-off after a 5xx, a timeout or a network error; doubles each time. */
  backoffMs?: number;
  /** A Retry-After longer than this is not waited for: the message fails instead. */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
}


/** Retry-After in seconds (Slack sends seconds); an HTTP date is accepted too. */
export const retryAfterMs = (header: string | null, fallbackMs: number): number => {
  if (header === null) return fallbackMs;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? fallbackMs : Math.max(0, at - Date.now());
};

/** A fixed description per status: what the answer means, never what it said. */
export const describeStatus = (status: number): string => {
  if (status === 400) return 'the message was refused as invalid';
  if (status === 401 || status === 403) return 'the webhook is not allowed to post';
  if (status === 404 || status === 410) return 'no such webhook: it was revoked or the URL is wrong';
  if (status === 429) return 'rate-limited';
  if (status >= 500) return 'Slack or a proxy failed';
  return 'unexpected answer';
};

/** The network error's code (ECONNREFUSED, ETIMEDOUT…), never its text: it could carry the URL. */
const networkCode = (error: unknown): string => {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  const cause = error instanceof Error ? error.cause : undefined;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
  return code ?? (error instanceof Error ? error.name : 'network error');
};

export class SlackWebhook implements Notifier {
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #timeoutMs: number;

  constructor(
    private readonly url: () => Promise<Secret>,
    options: SlackWebhookOptions = {},
  ) {
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#backoffMs = options.backoffMs ?? 500;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async post(message: SlackMessage): Promise<Delivery> {
    const url = await this.url();
    const body = JSON.stringify(message);
    let waitedMs = 0;
    let lastProblem = 'not attempted';
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      let waitMs: number;
      try {
        const response = await fetch(url.reveal(), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        // The body is never read into a message: proxies and error pages often echo the
        // request path, which holds the webhook's secret.
        await response.body?.cancel();
        if (response.ok) return { attempts: attempt, waitedMs };
        lastProblem = `HTTP ${response.status} (${describeStatus(response.status)})`;
        if (response.status === 429) {
          waitMs = retryAfterMs(response.headers.get('retry-after'), this.#backoffMs);
          if (waitMs > this.#maxRetryAfterMs) {
            throw new NotificationError(`Slack webhook rate-limited: Retry-After ${waitMs / 1000} s is longer than we wait`, attempt);
          }
        } else if (response.status >= 500) {
          waitMs = this.#backoffMs * 2 ** (attempt - 1);
        } else {
          // 400 invalid_payload, 403 action_prohibited, 404 no_service: retrying cannot help.
          throw new NotificationError(`Slack webhook refused the message: ${lastProblem}`, attempt);
        }
      } catch (error) {
        if (error instanceof NotificationError) throw error;
        lastProblem = networkCode(error);
        waitMs = this.#backoffMs * 2 ** (attempt - 1);
      }
      if (attempt < this.#maxAttempts) {
        await sleep(waitMs);
        waitedMs += waitMs;
      }
    }
    // No `cause` on purpose: fetch's own errors can quote the URL.
    throw new NotificationError(`Slack webhook failed after ${this.#maxAttempts} attempts: ${lastProblem}`, this.#maxAttempts);
  }
}

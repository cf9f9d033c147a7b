import { paginateGetMetricData, type CloudWatchClient, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { EvidenceReadError } from '../domain/errors.ts';
import type { MetricSums, RejectedSums } from '../domain/model.ts';
import { DAY_MS } from '../domain/time.ts';
import type { MetricsPort, TimeWindow } from '../pipeline/ports.ts';
import { boundedPages } from './pages.ts';

export const CLOUDWATCH_IAM_ACTIONS = ['cloudwatch:GetMetricData'] as const;

/** GetMetricData accepts at most 500 queries a call; moto does not enforce it, so we do. */
export const QUERIES_PER_CALL = 500;
/**
 * A failed call is split in halves only while each half would hold at least this many
 * queries. A call this small that still fails is not failing because of its size.
 */
export const MIN_QUERIES_PER_CALL = 25;
/**
 * The pages one call may take. The 500 daily series of one call (at most 63 days each)
 * fit in a single page of 100,800 datapoints, so 50 pages can only be an answer that loops.
 */
export const MAX_PAGES_PER_CALL = 50;
const DAY_S = DAY_MS / 1000;

type MetricName = 'MetadataNoToken' | 'MetadataNoTokenRejected';

const dailySumQuery = (metric: MetricName, id: string, instanceId: string): MetricDataQuery => ({
  Id: id,
  ReturnData: true,
  MetricStat: {
    Metric: { Namespace: 'AWS/EC2', MetricName: metric, Dimensions: [{ Name: 'InstanceId', Value: instanceId }] },
    Period: DAY_S,
    Stat: 'Sum',
  },
});

// Errors of the network, not of the request: the SDK retries them, and a smaller call may pass.
const NETWORK_ERROR_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED']);

/**
 * A failure that a smaller call may not meet, once the SDK's own retries are spent: the
 * call timed out, the service failed (5xx), or the connection broke. Throttling, access
 * denied and a looping answer are not: splitting would only make more calls.
 */
const mayPassSmaller = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TimeoutError') return true;
  const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && NETWORK_ERROR_CODES.has(code);
};

interface DailySums {
  sums: Map<string, RejectedSums>;
  /** Ids no call could read, and the error of the last call that failed. */
  unread: string[];
  cause?: unknown;
}

export class CloudWatchAdapter implements MetricsPort {
  constructor(private readonly cloudwatch: CloudWatchClient) {}

  /** Throws EvidenceReadError (with what it did read) when some instances could not be read. */
  async countNoTokenCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, MetricSums>> {
    const { sums: all, unread, cause } = await this.#dailySums('MetadataNoToken', instanceIds, window);
    // When answered calls began matters only for rejected ones (the rollback watch's window).
    const sums = new Map([...all].map(([id, { calls, observedDays }]): [string, MetricSums] => [id, { calls, observedDays }]));
    if (unread.length > 0) throw new EvidenceReadError('MetadataNoToken', unread, sums, { cause });
    return sums;
  }

  /** Throws EvidenceReadError (with what it did read) when some instances could not be read. */
  async countRejectedCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, RejectedSums>> {
    const { sums, unread, cause } = await this.#dailySums('MetadataNoTokenRejected', instanceIds, window);
    if (unread.length > 0) throw new EvidenceReadError('MetadataNoTokenRejected', unread, sums, { cause });
    return sums;
  }

  /**
   * Daily sums of one metric per instance, in calls of at most 500 queries. A call that
   * fails in a way a smaller call may not (a timeout, a 5xx) is tried again as its first
   * half, and the calls after it keep that smaller size: one slow call must not cost the
   * whole account-region its evidence. What was read is kept. When a call of the smallest
   * size still fails, size is not the cause, so the read stops there and every id not yet
   * read is unread: in an outage the read ends after a handful of failed calls, not after
   * one per small batch.
   */
  async #dailySums(metric: MetricName, instanceIds: string[], window: TimeWindow): Promise<DailySums> {
    const ids = [...new Set(instanceIds)];
    const sums = new Map<string, RejectedSums>();
    const incomplete: string[] = [];
    let statusCause: unknown;
    let size = QUERIES_PER_CALL;
    let offset = 0;
    while (offset < ids.length) {
      const batch = ids.slice(offset, offset + size);
      try {
        const read = await this.#readBatch(metric, batch, window);
        for (const [id, evidence] of read.sums) sums.set(id, evidence);
        for (const [id, status] of read.incomplete) {
          incomplete.push(id);
          statusCause ??= new Error(`GetMetricData answered ${status} for ${metric} of ${id}`);
        }
        offset += batch.length;
      } catch (error) {
        if (!mayPassSmaller(error)) throw error;
        const half = Math.ceil(batch.length / 2);
        if (half < MIN_QUERIES_PER_CALL) return { sums, unread: [...incomplete, ...ids.slice(offset)], cause: error };
        size = half;
      }
    }
    return { sums, unread: incomplete, cause: statusCause };
  }

  /**
   * One call's pages; its sums count only once every page has been read. A series whose
   * last status is not `Complete` (PartialData, InternalError, Forbidden) is unknown, never
   * a sum of what it did return. Days are counted once each, by timestamp, and never more
   * than the window holds: a page served twice must not double the calls or the days.
   */
  async #readBatch(
    metric: MetricName,
    batch: string[],
    window: TimeWindow,
  ): Promise<{ sums: Map<string, RejectedSums>; incomplete: Map<string, string> }> {
    const byQuery = new Map(batch.map((instanceId, n) => [`q${n}`, instanceId]));
    const daily = new Map(batch.map((instanceId) => [instanceId, new Map<number, number>()]));
    const status = new Map<string, string>();
    const pages = paginateGetMetricData(
      { client: this.cloudwatch },
      {
        StartTime: window.start,
        EndTime: window.end,
        MetricDataQueries: batch.map((instanceId, n) => dailySumQuery(metric, `q${n}`, instanceId)),
      },
    );
    for await (const page of boundedPages('GetMetricData', pages, MAX_PAGES_PER_CALL)) {
      for (const series of page.MetricDataResults ?? []) {
        const instanceId = byQuery.get(series.Id ?? '');
        const days = instanceId ? daily.get(instanceId) : undefined;
        if (!instanceId || !days) continue;
        status.set(instanceId, series.StatusCode ?? 'Complete');
        const values = series.Values ?? [];
        const stamps = series.Timestamps ?? [];
        values.forEach((value, n) => {
          const at = stamps[n]?.getTime() ?? window.start.getTime() + n * DAY_MS;
          days.set(Math.floor(at / DAY_MS), value);
        });
      }
    }
    const windowDays = Math.ceil((window.end.getTime() - window.start.getTime()) / DAY_MS);
    const sums = new Map<string, RejectedSums>();
    const incomplete = new Map<string, string>();
    for (const [instanceId, days] of daily) {
      const last = status.get(instanceId) ?? 'Complete';
      if (last !== 'Complete') {
        incomplete.set(instanceId, last);
        continue;
      }
      const calls = [...days.values()].reduce((sum, v) => sum + v, 0);
      // The earliest day with a call is when the calls began (the rollback watch's window needs it).
      const withCalls = [...days.entries()].filter(([, v]) => v > 0).map(([day]) => day);
      const firstDay = withCalls.length > 0 ? new Date(Math.min(...withCalls) * DAY_MS) : undefined;
      sums.set(instanceId, { calls, observedDays: Math.min(days.size, windowDays), firstDay });
    }
    return { sums, incomplete };
  }
}

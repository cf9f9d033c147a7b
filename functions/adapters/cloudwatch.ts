import { paginateGetMetricData, type CloudWatchClient, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import type { MetricSums, RejectedSums } from '../domain/model.ts';
import type { MetricsPort, TimeWindow } from '../pipeline/ports.ts';

export const CLOUDWATCH_IAM_ACTIONS = ['cloudwatch:GetMetricData'] as const;

/** GetMetricData accepts at most 500 queries a call; moto does not enforce it, so we do. */
export const QUERIES_PER_CALL = 500;
const DAY_S = 86_400;

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

export class CloudWatchAdapter implements MetricsPort {
  constructor(private readonly cloudwatch: CloudWatchClient) {}

  countNoTokenCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, MetricSums>> {
    return this.#dailySums('MetadataNoToken', instanceIds, window);
  }

  countRejectedCalls(instanceIds: string[], window: TimeWindow): Promise<Map<string, RejectedSums>> {
    return this.#dailySums('MetadataNoTokenRejected', instanceIds, window);
  }

  /** Daily sums of one metric per instance, in calls of at most 500 queries, with the first day that had a call. */
  async #dailySums(metric: MetricName, instanceIds: string[], window: TimeWindow): Promise<Map<string, RejectedSums>> {
    const evidence = new Map<string, RejectedSums>();
    for (let offset = 0; offset < instanceIds.length; offset += QUERIES_PER_CALL) {
      const batch = instanceIds.slice(offset, offset + QUERIES_PER_CALL);
      const byQuery = new Map(batch.map((instanceId, n) => [`q${n}`, instanceId]));
      for (const instanceId of batch) evidence.set(instanceId, { calls: 0, observedDays: 0, firstDay: undefined });
      const pages = paginateGetMetricData(
        { client: this.cloudwatch },
        {
          StartTime: window.start,
          EndTime: window.end,
          MetricDataQueries: batch.map((instanceId, n) => dailySumQuery(metric, `q${n}`, instanceId)),
        },
      );
      for await (const page of pages) {
        for (const series of page.MetricDataResults ?? []) {
          const instanceId = byQuery.get(series.Id ?? '');
          const seen = instanceId ? evidence.get(instanceId) : undefined;
          if (!seen) continue;
          const values = series.Values ?? [];
          seen.calls += values.reduce((sum, v) => sum + v, 0);
          seen.observedDays += values.length;
          // Each value's Timestamp is the start of its day: the earliest with a call is when the calls began.
          for (const [n, at] of (series.Timestamps ?? []).entries()) {
            if ((values[n] ?? 0) > 0 && (seen.firstDay === undefined || at < seen.firstDay)) seen.firstDay = at;
          }
        }
      }
    }
    return evidence;
  }
}

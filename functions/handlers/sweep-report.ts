// Step Functions' last step: one summary of the whole sweep.
import type { SweepReport } from '../core/model.ts';
import { reportFromDigests, type FailedShard, type ShardDigest } from '../core/shard-digest.ts';
import { logger } from '../lambda-logger.ts';
import { parseEvent, reportEventSchema } from '../sweep-events.ts';

export const handler = async (event: unknown): Promise<SweepReport> => {
  const { apply, plan, results } = parseEvent(reportEventSchema, event, 'sweep report');
  const digests: ShardDigest[] = [];
  const failed: FailedShard[] = [];
  for (const r of results) {
    if ('Error' in r) failed.push({ shard: undefined, message: `shard execution failed: ${r.Error}${r.Cause ? `: ${r.Cause}` : ''}` });
    else digests.push(r);
  }
  const report = reportFromDigests(apply ? 'apply' : 'plan', plan, digests, failed);
  const level = report.summary.errors > 0 ? 'warn' : 'info';
  logger[level]('sweep finished', { mode: report.mode, summary: report.summary, errors: report.errors });
  return report;
};

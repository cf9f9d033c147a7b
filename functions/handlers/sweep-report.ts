// Step Functions' last step: one summary of the whole sweep, logged and posted to Slack.
import { composeNotifier } from '../compose.ts';
import { readEnvironment } from '../config.ts';
import type { SweepReport } from '../core/model.ts';
import { deliver } from '../core/notify.ts';
import { reportFromDigests, type FailedShard, type ShardDigest } from '../core/shard-digest.ts';
import { sweepSummaryMessage } from '../core/slack-message.ts';
import { powertoolsLog } from '../lambda.ts';
import { logger } from '../lambda-logger.ts';
import { parseEvent, reportEventSchema } from '../sweep-events.ts';

// Read once per container; a Slack failure never fails the sweep's last step.
const notifier = composeNotifier({ env: readEnvironment() });

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
  const regions = [...new Set(digests.map((d) => d.shard.region))];
  report.notifications = { slack: await deliver(notifier, sweepSummaryMessage(report, { regions }), powertoolsLog(logger), 'sweep summary') };
  return report;
};

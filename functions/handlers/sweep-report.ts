// Step Functions' last step: one summary of the whole sweep, from the Map's results in the
// sweep bucket (its ResultWriter's manifest), logged and posted to Slack.
import { composeNotifier } from '../app/compose.ts';
import { readLambdaEnvironment } from '../app/config.ts';
import type { SweepReport } from '../domain/model.ts';
import { deliver } from '../notify/deliver.ts';
import { overviewOfDigests, reportFromDigests } from '../sweep/digest.ts';
import { sweepSummaryMessage } from '../notify/slack-message.ts';
import { powertoolsLog, sweepStore } from '../app/lambda.ts';
import { logger } from '../app/lambda-logger.ts';
import { failedMapRun, readMapRun } from '../app/map-run.ts';
import { parseEvent, reportEventSchema } from '../app/step-payloads.ts';

// Read once per container; a Slack failure never fails the sweep's last step.
const env = readLambdaEnvironment();
const notifier = composeNotifier({ env });

export const handler = async (event: unknown): Promise<SweepReport> => {
  const { apply, plan, results, failure } = parseEvent(reportEventSchema, event, 'sweep report');
  // The schema holds exactly one of the two.
  const { digests, failed } = results ? await readMapRun(sweepStore(env), results) : failedMapRun(failure ?? { Error: 'unknown error' });
  // A shard that failed as a whole left no log line of its own saying so: one each, here.
  for (const f of failed) logger.error('shard failed', { accountId: f.shard?.accountId, region: f.shard?.region, reason: f.message });
  const report = reportFromDigests(apply ? 'apply' : 'plan', plan, digests, failed);
  const level = report.summary.errors > 0 ? 'warn' : 'info';
  logger[level](failure ? 'sweep failed' : 'sweep finished', {
    mode: report.mode,
    mapRun: results?.MapRunArn,
    summary: report.summary,
    errors: report.errors,
  });
  const regions = [...new Set(digests.map((d) => d.shard.region))];
  const message = sweepSummaryMessage(report, { regions, overview: overviewOfDigests(digests), failed: failure !== undefined });
  report.notifications = { slack: await deliver(notifier, message, powertoolsLog(logger), 'sweep summary') };
  return report;
};

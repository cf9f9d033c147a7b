// Step Functions' last step: one summary of the whole sweep, from the Map's results in the
// sweep bucket (its ResultWriter's manifest), logged and posted to Slack.
import { composeNotifier } from '../app/compose.ts';
import { readLambdaEnvironment } from '../app/config.ts';
import { deliver } from '../notify/deliver.ts';
import { aggregate, hasFailures, type SweepReport } from '../report/aggregate.ts';
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
  // This function does not read the policy: a shard that recorded findings says so in its digest.
  const findingsEnabled = digests.some((d) => d.findings !== undefined);
  const { report, overview } = aggregate({ mode: apply ? 'apply' : 'plan', plan, digests, failed, findingsEnabled });
  const level = hasFailures(report) ? 'warn' : 'info';
  logger[level](failure ? 'sweep failed' : 'sweep finished', {
    mode: report.mode,
    mapRun: results?.MapRunArn,
    summary: report.summary,
    errors: report.errors,
  });
  const regions = [...new Set(digests.map((d) => d.shard.region))];
  const message = sweepSummaryMessage(report, overview, { regions, failed: failure !== undefined });
  report.notifications = { slack: await deliver(notifier, message, powertoolsLog(logger), 'sweep summary') };
  return report;
};

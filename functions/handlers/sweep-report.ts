// Step Functions' last step: one summary of the whole sweep, from the Map's results in the
// sweep bucket (its ResultWriter's manifest), logged and posted to Slack. The Catches of the
// Plan, the Map and this step itself send it here too, so that a failed sweep still says why.
import { composeNotifier } from '../app/compose.ts';
import { readLambdaEnvironment } from '../app/config.ts';
import { deliver } from '../notify/deliver.ts';
import { aggregate, hasFailures, type SweepReport } from '../report/aggregate.ts';
import { escapeMrkdwn, sweepSummaryMessage, type SlackMessage } from '../notify/slack-message.ts';
import { powertoolsLog, sweepStore } from '../app/lambda.ts';
import { logger } from '../app/lambda-logger.ts';
import { describeCause, failedMapRun, readMapRun } from '../app/map-run.ts';
import { parseEvent, reportEventSchema, sweepOrganizationSchema, type MapFailure, type ReportEvent } from '../app/step-payloads.ts';
import type { SweepOrganization } from '../guardrails/readiness.ts';
import type { JsonStore } from '../sweep/ports.ts';
import { describeError } from '../domain/errors.ts';

// Read once per container; a Slack failure never fails the sweep's last step.
const env = readLambdaEnvironment();
const notifier = composeNotifier({ env });

/** A Catch's Cause can be a whole Lambda error payload with its stack trace: Slack gets the start of the message. */
const CAUSE_MAX = 500;

const STEP_NAMES = { Plan: 'the Plan step', Report: 'the Report step' } as const;

/** "<Error>: <type>: <message>", from what a Catch hands on, cut to a readable length. */
const causeOf = (failure: MapFailure): string => {
  const text = `${failure.Error}${describeCause(failure.Error, failure.Cause)}`;
  return text.length <= CAUSE_MAX ? text : `${text.slice(0, CAUSE_MAX - 1)}…`;
};

/** Plan and Report failures leave no results to sum: the message names the step and its cause, nothing else. */
const stepFailedMessage = (step: keyof typeof STEP_NAMES, cause: string, plan?: { accounts: number; shards: number }): SlackMessage => {
  const what = `FAILED: ${STEP_NAMES[step]} failed: ${cause}`;
  const planned = plan ? ` (${plan.accounts} accounts, ${plan.shards} account-regions planned; their results were not read)` : '';
  return {
    text: escapeMrkdwn(`IMDSv2 sweep ${what}${planned}`),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: 'IMDSv2 sweep: FAILED' } },
      { type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(`${what}${planned}`) } },
    ],
  };
};

const reportFailedStep = async (event: Extract<ReportEvent, { kind: 'failed' }>): Promise<SweepReport> => {
  const cause = causeOf(event.failure);
  const plan = event.step === 'Plan' ? { accounts: 0, shards: 0, errors: [], errorCount: 0 } : event.plan;
  const mode = event.step !== 'Plan' && event.apply ? 'apply' : 'plan';
  const step = event.step === 'Plan' ? 'Plan' : 'Report';
  const { report } = aggregate({ mode, plan, digests: [], failed: [{ shard: undefined, message: `${STEP_NAMES[step]} failed: ${cause}` }], findingsEnabled: false });
  logger.error('sweep failed', { step: event.step, cause, summary: report.summary });
  const message = stepFailedMessage(step, cause, event.step === 'Plan' ? undefined : plan);
  return { ...report, notifications: { slack: await deliver(notifier, message, powertoolsLog(logger), 'sweep failure') } };
};

/** The plan's organization, or undefined (logged): the readiness per OU never fails the report. */
const readOrganization = async (store: JsonStore, key: string): Promise<SweepOrganization | undefined> => {
  try {
    const parsed = sweepOrganizationSchema.safeParse(await store.getJson(key));
    if (parsed.success) return parsed.data;
    logger.warn('organization of the plan unreadable: the report leaves out readiness per OU', { key, issues: parsed.error.issues.length });
  } catch (error) {
    logger.warn('organization of the plan unreadable: the report leaves out readiness per OU', { key, reason: describeError(error) });
  }
  return undefined;
};

export const handler = async (event: unknown): Promise<SweepReport> => {
  const parsed = parseEvent(reportEventSchema, event, 'sweep report');
  if (parsed.kind === 'failed' && parsed.step !== 'Shards') return reportFailedStep(parsed);
  const { apply, plan } = parsed;
  const results = parsed.kind === 'results' ? parsed.results : undefined;
  const failure = parsed.kind === 'failed' ? parsed.failure : undefined;
  const { digests, failed } = results ? await readMapRun(sweepStore(env), results) : failedMapRun(failure ?? { Error: 'unknown error' });
  const organization = plan.organizationKey === undefined ? undefined : await readOrganization(sweepStore(env), plan.organizationKey);
  // A shard that failed as a whole left no log line of its own saying so: one each, here.
  for (const f of failed) logger.error('shard failed', { accountId: f.shard?.accountId, region: f.shard?.region, reason: f.message });
  // This function does not read the policy: a shard that recorded findings says so in its digest.
  const findingsEnabled = digests.some((d) => d.findings !== undefined);
  const { report, overview } = aggregate({ mode: apply ? 'apply' : 'plan', plan, digests, failed, findingsEnabled, organization });
  const level = hasFailures(report) ? 'warn' : 'info';
  logger[level](failure ? 'sweep failed' : 'sweep finished', {
    mode: report.mode,
    mapRun: results?.MapRunArn,
    summary: report.summary,
    errors: report.errors,
  });
  const regions = [...new Set(digests.map((d) => d.shard.region))];
  const message = sweepSummaryMessage(report, overview, { regions, failed: failure !== undefined });
  return { ...report, notifications: { slack: await deliver(notifier, message, powertoolsLog(logger), 'sweep summary') } };
};

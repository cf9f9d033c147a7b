import type { SweepReport } from './aggregate.ts';

/** Where the run's results went: Security Hub and Slack, one line each, failures listed. */
export const renderOutcomes = (report: SweepReport): string => {
  const out: string[] = [];
  const f = report.findings;
  out.push(
    f.enabled
      ? `Security Hub: ${f.imported} finding(s) imported, ${f.unchanged} unchanged (not re-imported), ${report.summary.findingsFailed} failed`
      : 'Security Hub: findings off',
  );
  for (const x of f.failed) out.push(`  ${x.instanceId}  ${x.accountId}  ${x.region}  ${x.errorCode}: ${x.message}`);
  if (f.failed.length < report.summary.findingsFailed) out.push(`  …and ${report.summary.findingsFailed - f.failed.length} more`);
  const slack = report.notifications?.slack;
  if (slack) {
    if (slack.status === 'sent') out.push(`Slack: summary sent (${slack.attempts} attempt(s))`);
    else if (slack.status === 'failed') out.push(`Slack: summary NOT sent after ${slack.attempts} attempt(s): ${slack.error}`);
    else out.push('Slack: not configured (SLACK_WEBHOOK_URL or SLACK_WEBHOOK_SECRET_ARN)');
  }
  return out.join('\n');
};

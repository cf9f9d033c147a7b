// Slack Block Kit messages, pure: the sweep summary, an auto-fix, a blocked instance.
import type { FindingsOutcome } from '../findings/record.ts';
import { isNonCompliant, isToChange, type InstanceResult, type SweepReport, type Verdict } from '../domain/model.ts';

type Text = { type: 'mrkdwn'; text: string } | { type: 'plain_text'; text: string; emoji?: boolean };
export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string } }
  | { type: 'section'; text: Text }
  | { type: 'section'; fields: Text[] }
  | { type: 'context'; elements: Text[] }
  | { type: 'divider' };

/** `text` is the plain fallback (notifications, screen readers); `blocks` the rich layout. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

// Slack's limits: 50 blocks a message, 3000 characters a section text, 10 fields of 2000,
// 150 characters a header.
export const MAX_BLOCKS = 50;
export const MAX_SECTION_CHARS = 3000;
const MAX_HEADER_CHARS = 150;
const TOP_ACCOUNTS = 5;

/** Slack's mrkdwn needs only these three escaped. */
export const escapeMrkdwn = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const mrkdwn = (text: string): Text => ({ type: 'mrkdwn', text });
const header = (text: string): SlackBlock => ({
  type: 'header',
  text: { type: 'plain_text', text: text.length <= MAX_HEADER_CHARS ? text : `${text.slice(0, MAX_HEADER_CHARS - 1)}…` },
});
const section = (text: string): SlackBlock => ({ type: 'section', text: mrkdwn(text) });

/**
 * A titled list that fits one section, ending with "…and N more" when it does not, or when
 * `unlisted` entries were never given as lines (counted elsewhere).
 */
export const listSection = (title: string, lines: string[], max = MAX_SECTION_CHARS, unlisted = 0): string => {
  const tail = (hidden: number) => (hidden > 0 ? `\n…and ${hidden} more` : '');
  let text = title;
  for (const [n, line] of lines.entries()) {
    if (text.length + 1 + line.length + tail(lines.length - n - 1 + unlisted).length > max) return `${text}${tail(lines.length - n + unlisted)}`;
    text = `${text}\n${line}`;
  }
  return `${text}${tail(unlisted)}`;
};

const LABELS: Record<Verdict, string> = {
  compliant: 'Compliant',
  'fix-hop-limit': 'Hop limit to fix',
  enforce: 'Safe to enforce',
  'blocked-v1-in-use': 'Blocked (IMDSv1 in use)',
  'v1-rejected': 'IMDSv1 rejected after enforcement (workload failing)',
  gone: 'Gone (terminated)',
  'insufficient-evidence': 'Not enough evidence',
  exempt: 'Exempt',
  error: 'Errors',
};

export interface BlockedInstance {
  accountId: string;
  region: string;
  instanceId: string;
  noTokenCalls: number;
}

/**
 * What the summary says beyond the report's totals: from the instances themselves (the CLI,
 * an event), or from the shards' digests (Step Functions), which keep only the heaviest
 * IMDSv1 users of each shard.
 */
export interface SweepOverview {
  instances: number;
  toChange: number;
  /** The heaviest IMDSv1 users first; `blockedCount` counts them all. */
  blocked: BlockedInstance[];
  blockedCount: number;
  nonCompliantByAccount: Map<string, number>;
  /** Errors of single instances that `report.errors` does not already hold. */
  instanceErrors: string[];
}

export const byCallsDescending = (a: BlockedInstance, b: BlockedInstance) =>
  b.noTokenCalls - a.noTokenCalls || a.instanceId.localeCompare(b.instanceId);

export const overviewOfInstances = (instances: InstanceResult[]): SweepOverview => {
  const blocked = instances
    .filter((i) => i.verdict === 'blocked-v1-in-use')
    .map((i) => ({ accountId: i.accountId, region: i.region, instanceId: i.instanceId, noTokenCalls: i.noTokenCalls ?? 0 }))
    .sort(byCallsDescending);
  const nonCompliantByAccount = new Map<string, number>();
  for (const i of instances.filter(isNonCompliant)) nonCompliantByAccount.set(i.accountId, (nonCompliantByAccount.get(i.accountId) ?? 0) + 1);
  return {
    instances: instances.length,
    toChange: instances.filter(isToChange).length,
    blocked,
    blockedCount: blocked.length,
    nonCompliantByAccount,
    instanceErrors: instances
      .filter((i) => i.verdict === 'error')
      .map((i) => `• \`${i.instanceId}\` ${i.accountId} ${i.region}: ${escapeMrkdwn(i.reason)}`),
  };
};

export interface SummaryContext {
  /** The regions swept (from the plan: a region without instances still counts). */
  regions: string[];
  findings?: (FindingsOutcome & { enabled: boolean }) | undefined;
  /** Default: from `report.instances`. */
  overview?: SweepOverview;
  /** The run stopped before every account-region was swept (the deployed Map failed). */
  failed?: boolean;
}

export const sweepSummaryMessage = (report: SweepReport, context: SummaryContext): SlackMessage => {
  const { summary } = report;
  const mode = `${report.mode === 'apply' ? 'apply' : 'plan (nothing changed)'}${context.failed ? ', FAILED' : ''}`;
  const overview = context.overview ?? overviewOfInstances(report.instances);
  const top = [...overview.nonCompliantByAccount.entries()].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  const regions = [...new Set(context.regions)].sort();

  const blocks: SlackBlock[] = [
    header(`IMDSv2 sweep: ${mode}`),
    {
      type: 'section',
      fields: [
        mrkdwn(`*Instances*\n${overview.instances}`),
        mrkdwn(`*Changed*\n${summary.changed}`),
        ...(Object.keys(LABELS) as Verdict[]).map((v) => mrkdwn(`*${LABELS[v]}*\n${summary.byVerdict[v]}`)),
      ].slice(0, 10),
    },
    {
      type: 'context',
      elements: [
        mrkdwn(
          escapeMrkdwn(
            `${summary.accounts} accounts · ${summary.shards} account-regions · regions: ${regions.join(', ') || 'none'} · ${summary.errors} errors`,
          ),
        ),
      ],
    },
  ];
  if (top.length > 0) {
    const lines = top.slice(0, TOP_ACCOUNTS).map(([account, n]) => `• \`${account}\`: ${n}`);
    blocks.push(section(listSection('*Top accounts by non-compliant instances*', lines.concat(top.length > TOP_ACCOUNTS ? [`…and ${top.length - TOP_ACCOUNTS} more accounts`] : []))));
  }
  if (overview.blockedCount > 0) {
    const lines = overview.blocked.map((i) => `• \`${i.instanceId}\` ${i.accountId} ${i.region}: ${i.noTokenCalls} IMDSv1 calls`);
    const title = `*Blocked: IMDSv1 still in use (${overview.blockedCount})*`;
    blocks.push(section(listSection(title, lines, MAX_SECTION_CHARS, overview.blockedCount - lines.length)));
  }
  const errorLines = [
    ...report.errors.map((e) => `• ${e.accountId} ${e.region ?? '(all regions)'}: ${escapeMrkdwn(e.message)}`),
    ...overview.instanceErrors,
  ];
  // The count is the summary's: the report may list only the first of many (Step Functions).
  if (errorLines.length > 0) blocks.push(section(listSection(`*Errors (${summary.errors})*`, errorLines)));
  if (context.findings?.enabled) {
    const f = context.findings;
    blocks.push({
      type: 'context',
      elements: [mrkdwn(`Security Hub: ${f.imported} findings imported, ${f.unchanged} unchanged, ${f.failed.length} failed`)],
    });
  }

  const text =
    `IMDSv2 sweep (${mode}): ${overview.instances} instances in ${summary.accounts} accounts, ${summary.changed} changed, ` +
    `${overview.toChange} still to change, ${summary.byVerdict['blocked-v1-in-use']} blocked by IMDSv1 use, ${summary.errors} errors`;
  return { text, blocks: blocks.slice(0, MAX_BLOCKS) };
};

// Slack reads `text` as mrkdwn too (notifications show it, and <!channel> there pings a
// channel), so whatever comes from instance data is escaped there as in the blocks. A reason
// can quote what member-account users wrote: an Auto Scaling group's name, a tag's value.
const where = (i: InstanceResult) => `\`${escapeMrkdwn(i.instanceId)}\` in account ${escapeMrkdwn(i.accountId)}, ${escapeMrkdwn(i.region)}`;
const which = (i: InstanceResult) => escapeMrkdwn(`${i.instanceId} (${i.accountId}, ${i.region})`);

/** One instance moved to IMDSv2 (or its hop limit set), and why that was safe. */
export const autoFixMessage = (i: InstanceResult): SlackMessage => {
  const what = i.verdict === 'fix-hop-limit' ? `hop limit set to ${i.hopLimit}` : `IMDSv2 enforced, hop limit ${i.hopLimit}`;
  return {
    text: `${what} on ${which(i)}: ${escapeMrkdwn(i.reason)}`,
    blocks: [
      section(`:white_check_mark: *${what}* on ${where(i)}`),
      section(escapeMrkdwn(`Why it was safe: ${i.reason}`)),
    ],
  };
};

/** One instance left on IMDSv1 because the evidence says something still uses it. */
export const blockedMessage = (i: InstanceResult): SlackMessage => {
  // A new instance blocked for its siblings has no calls of its own: say none rather than "0".
  const calls = i.noTokenCalls === null ? '' : `, ${i.noTokenCalls} calls`;
  return {
    text: `Not enforced on ${which(i)}: IMDSv1 in use${calls}. ${escapeMrkdwn(i.reason)}`,
    blocks: [
      section(`:no_entry: *IMDSv2 not enforced* on ${where(i)}: IMDSv1 still in use${calls ? ` (${calls.slice(2)})` : ''}`),
      section(escapeMrkdwn(i.reason)),
    ],
  };
};

/** An instance we enforced whose workload now has IMDSv1 calls rejected: something is failing. */
export const rollbackAlertMessage = (i: InstanceResult): SlackMessage => {
  const what = i.changed ? 'reverted to IMDSv1-optional' : 'still enforced (policy rollback: alert)';
  return {
    text: `IMDSv1 calls rejected on ${which(i)} since IMDSv2 was enforced; ${what}. ${escapeMrkdwn(i.reason)}`,
    blocks: [
      section(`:rotating_light: *IMDSv1 calls rejected* on ${where(i)} since IMDSv2 was enforced: a workload is failing; ${what}`),
      section(escapeMrkdwn(i.reason)),
    ],
  };
};

export const testMessage = (): SlackMessage => ({
  text: 'imds-remediator: test message. Sweep summaries, auto-fixes and blocked instances will be posted here.',
  blocks: [section(':wave: *imds-remediator* is set up. Sweep summaries, auto-fixes and blocked instances will be posted here.')],
});

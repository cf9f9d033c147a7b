// Slack Block Kit messages, pure: the sweep summary, an auto-fix, a blocked instance.
import type { InstanceResult } from '../domain/model.ts';
import { VERDICT_TABLE, VERDICTS, type Verdict } from '../domain/verdicts.ts';
import type { SweepOverview, SweepReport } from '../report/aggregate.ts';

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

const LABELS = Object.fromEntries(VERDICTS.map((v) => [v, VERDICT_TABLE[v].label])) as Record<Verdict, string>;

export interface SummaryContext {
  /** The regions swept (from the plan: a region without instances still counts). */
  regions: string[];
  /** The run stopped before every account-region was swept (the deployed Map failed). */
  failed?: boolean;
}

/** The run summary, from the aggregated report: the same for the CLI, an event and the deployed sweep. */
export const sweepSummaryMessage = (report: SweepReport, overview: SweepOverview, context: SummaryContext): SlackMessage => {
  const { summary } = report;
  const mode = `${report.mode === 'apply' ? 'apply' : 'plan (nothing changed)'}${context.failed ? ', FAILED' : ''}`;
  const top = [...overview.nonCompliantByAccount.entries()].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  const regions = [...new Set(context.regions)].sort();
  const blockedCount = summary.byVerdict['blocked-v1-in-use'];

  const blocks: SlackBlock[] = [
    header(`IMDSv2 sweep: ${mode}`),
    {
      type: 'section',
      fields: [
        mrkdwn(`*Instances*\n${summary.instances}`),
        mrkdwn(`*Changed*\n${summary.changed}`),
        // Slack shows at most 10 fields: the verdicts that occurred, in the table's order.
        ...VERDICTS.filter((v) => summary.byVerdict[v] > 0).map((v) => mrkdwn(`*${LABELS[v]}*\n${summary.byVerdict[v]}`)),
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
    const lines = top.slice(0, TOP_ACCOUNTS).map(([account, n]) => `• \`${escapeMrkdwn(account)}\`: ${n}`);
    blocks.push(section(listSection('*Top accounts by non-compliant instances*', lines.concat(top.length > TOP_ACCOUNTS ? [`…and ${top.length - TOP_ACCOUNTS} more accounts`] : []))));
  }
  if (blockedCount > 0) {
    const lines = overview.blocked.map((i) => escapeMrkdwn(`• \`${i.instanceId}\` ${i.accountId} ${i.region}: ${i.noTokenCalls} IMDSv1 calls`));
    const title = `*Blocked: IMDSv1 still in use (${blockedCount})*`;
    blocks.push(section(listSection(title, lines, MAX_SECTION_CHARS, Math.max(blockedCount - lines.length, 0))));
  }
  if (report.readiness) {
    const r = report.readiness;
    const lines = r.units.map((u) => `• ${u.ready ? ':white_check_mark: ' : ''}${escapeMrkdwn(u.path)} (\`${escapeMrkdwn(u.id)}\`): ${u.readyAccounts}/${u.accounts} accounts ready`);
    const title = `*Ready for prevention (SCP, declarative policy): ${r.readyAccounts} of ${r.accounts} accounts*`;
    blocks.push(section(listSection(title, lines, MAX_SECTION_CHARS, Math.max(r.unitCount - lines.length, 0))));
  }
  const errorLines = report.errors.map((e) => escapeMrkdwn(`• ${e.accountId} ${e.region ?? '(all regions)'}: ${e.message}`));
  // The count is the summary's: the report lists only the first of many.
  if (errorLines.length > 0) blocks.push(section(listSection(`*Errors (${summary.errors})*`, errorLines)));
  const templates = summary.templates;
  if (templates && (templates.templates > 0 || templates.launchConfigurations > 0)) {
    const blockedTemplates = templates.byVerdict['blocked-v1-in-use'];
    const fixWord = report.mode === 'apply' ? `${templates.changed} given a new default version requiring IMDSv2` : `${templates.byVerdict.fix} would get a new default version requiring IMDSv2`;
    const extras = [
      blockedTemplates > 0 ? `${blockedTemplates} blocked by instances using IMDSv1` : '',
      templates.pinnedGroups > 0 ? `${templates.pinnedGroups} Auto Scaling groups pinned to a version that allows IMDSv1` : '',
      templates.launchConfigurations > 0 ? `${templates.launchConfigurations} launch configurations allow IMDSv1` : '',
    ].filter(Boolean);
    blocks.push(
      section(
        `*Launch templates*: ${templates.templates}, ${fixWord}, ${templates.allowingV1} still allow IMDSv1${extras.length > 0 ? `; ${extras.join('; ')}` : ''}`,
      ),
    );
  }
  if (report.findings.enabled) {
    const f = report.findings;
    blocks.push({
      type: 'context',
      elements: [mrkdwn(`Security Hub: ${f.imported} findings imported, ${f.unchanged} unchanged, ${summary.findingsFailed} failed`)],
    });
  }

  const text =
    `IMDSv2 sweep (${mode}): ${summary.instances} instances in ${summary.accounts} accounts, ${summary.changed} changed, ` +
    `${summary.toChange} still to change, ${blockedCount} blocked by IMDSv1 use, ${summary.errors} errors` +
    (report.readiness ? `, ${report.readiness.readyAccounts} of ${report.readiness.accounts} accounts ready for prevention` : '') +
    (templates && templates.templates > 0 ? `; launch templates: ${templates.templates}, ${templates.changed} changed, ${templates.allowingV1} still allow IMDSv1` : '');
  return { text, blocks: blocks.slice(0, MAX_BLOCKS) };
};

// Slack reads `text` as mrkdwn too (notifications show it, and <!channel> there pings a
// channel), so whatever comes from instance data is escaped there as in the blocks. A reason
// can quote what member-account users wrote: an Auto Scaling group's name, a tag's value.
const where = (i: InstanceResult) => `\`${escapeMrkdwn(i.instanceId)}\` in account ${escapeMrkdwn(i.accountId)}, ${escapeMrkdwn(i.region)}`;
const which = (i: InstanceResult) => escapeMrkdwn(`${i.instanceId} (${i.accountId}, ${i.region})`);

/** One instance moved to IMDSv2 (or its hop limit set), and why that was safe. */
export const autoFixMessage = (i: InstanceResult): SlackMessage => {
  const what =
    i.verdict === 'fix-hop-limit'
      ? `hop limit set to ${i.hopLimit}`
      : i.verdict === 'raise-hop-limit'
        ? `hop limit raised to ${i.hopLimit}, IMDSv1 still allowed (measuring again)`
        : `IMDSv2 enforced, hop limit ${i.hopLimit}`;
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
  // The reason says why it is still enforced: the policy alerts only, or the revert was withheld or impossible.
  const what = i.changed ? 'reverted to IMDSv1-optional' : 'still enforced';
  return {
    text: `IMDSv1 calls rejected on ${which(i)} since IMDSv2 was enforced; ${what}. ${escapeMrkdwn(i.reason)}`,
    blocks: [
      section(`:rotating_light: *IMDSv1 calls rejected* on ${where(i)} since IMDSv2 was enforced: a workload is failing; ${what}`),
      section(escapeMrkdwn(i.reason)),
    ],
  };
};

/** Rejected IMDSv1 calls that began long after the enforcement: an alert, never a revert. */
export const probeAlertMessage = (i: InstanceResult): SlackMessage => ({
  text: `Possible SSRF probe on ${i.instanceId} (${i.accountId}, ${i.region}): IMDSv1 calls rejected long after IMDSv2 was enforced; IMDSv1 stays closed. ${i.reason}`,
  blocks: [
    section(`:rotating_light: *Possible SSRF probe* on ${where(i)}: IMDSv1 calls rejected long after IMDSv2 was enforced; IMDSv1 stays closed`),
    section(escapeMrkdwn(i.reason)),
  ],
});

export const testMessage = (): SlackMessage => ({
  text: 'imds-remediator: test message. Sweep summaries, auto-fixes and blocked instances will be posted here.',
  blocks: [section(':wave: *imds-remediator* is set up. Sweep summaries, auto-fixes and blocked instances will be posted here.')],
});

// The human view of a run, for the terminal.
import type { InstanceResult } from '../domain/model.ts';
import { isPlannedChange, VERDICT_TABLE, VERDICTS, type Verdict } from '../domain/verdicts.ts';
import { TEMPLATE_LABELS, TEMPLATE_VERDICTS, type TemplateResult } from '../domain/templates.ts';
import type { SweepReport } from './aggregate.ts';
import { textTable as table } from '../domain/text-table.ts';
import { printable } from '../domain/shell.ts';
import { pinnedGroupAdvice } from '../domain/template-advice.ts';

const COLUMNS = VERDICTS.map((v): [Verdict, string] => [v, VERDICT_TABLE[v].column]);


const line = (i: InstanceResult, extra: string) =>
  `  ${i.instanceId}  ${i.accountId}  ${i.region}  ${extra}: ${i.reason}`;

/** The human view of a sweep: counts per account-region, then what changed or is blocked. */
export const renderReport = (report: SweepReport): string => {
  const out: string[] = [];
  const { summary } = report;
  const title = report.mode === 'apply' ? 'APPLY' : 'PLAN (nothing is changed)';
  out.push(`${title}: ${summary.accounts} account(s), ${summary.shards} account-region(s), ${report.instances.length} instance(s)`, '');

  const groups = new Map<string, InstanceResult[]>();
  for (const i of report.instances) {
    const key = `${i.accountId}  ${i.region}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  const count = (items: InstanceResult[], v: Verdict) => String(items.filter((i) => i.verdict === v).length);
  const rows = [['account', 'region', ...COLUMNS.map(([, label]) => label)]];
  for (const [key, items] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const [account = '', region = ''] = key.split('  ');
    rows.push([account, region, ...COLUMNS.map(([v]) => count(items, v))]);
  }
  rows.push(['total', '', ...COLUMNS.map(([v]) => String(summary.byVerdict[v]))]);
  out.push(...table(rows), '');

  const actionable = report.instances.filter((i) => isPlannedChange(i.verdict) || i.changed);
  if (actionable.length > 0) {
    out.push(report.mode === 'apply' ? `Changed (${summary.changed}):` : `Would change (${actionable.length}):`);
    for (const i of actionable) out.push(line(i, `${i.verdict} → hop limit ${i.hopLimit}${i.changed ? ' [done]' : ''}`));
    out.push('');
  }
  const blocked = report.instances.filter((i) => i.verdict === 'blocked-v1-in-use');
  if (blocked.length > 0) {
    out.push(`Blocked, IMDSv1 still in use (${blocked.length}):`);
    for (const i of blocked) out.push(line(i, i.noTokenCalls === null ? 'v1 in use' : `${i.noTokenCalls} v1 calls`));
    out.push('');
  }
  const rejected = report.instances.filter((i) => i.verdict === 'v1-rejected');
  if (rejected.length > 0) {
    out.push(`BROKEN? IMDSv1 calls rejected since enforcement (${rejected.length}):`);
    for (const i of rejected) out.push(line(i, i.changed ? 'reverted' : 'alert'));
    out.push('');
  }
  const gone = report.instances.filter((i) => i.verdict === 'gone');
  if (gone.length > 0) {
    out.push(`Gone, terminated during the run (${gone.length}):`);
    for (const i of gone) out.push(line(i, 'gone'));
    out.push('');
  }
  out.push(...renderTemplates(report));
  const failed = report.instances.filter((i) => i.verdict === 'error');
  if (report.errors.length > 0 || failed.length > 0) {
    out.push(`Errors (${report.errors.length + failed.length}):`);
    for (const e of report.errors) out.push(`  ${e.accountId}  ${e.region ?? '(all regions)'}  ${e.message}`);
    for (const i of failed) out.push(line(i, 'error'));
    out.push('');
  }
  // Names and reasons carry text from member accounts: no control character reaches the terminal.
  return out.map(printable).join('\n');
};

const templateLine = (t: TemplateResult, extra: string) => `  ${t.launchTemplateId} (${t.launchTemplateName})  ${t.accountId}  ${t.region}  ${extra}: ${t.reason}`;

/** Launch templates: counts, then each change, each blocked one, each group pinned to a version that allows IMDSv1. */
const renderTemplates = (report: SweepReport): string[] => {
  const summary = report.summary.templates;
  if (!summary || (summary.templates === 0 && summary.launchConfigurations === 0)) return [];
  const out: string[] = [];
  const counts = TEMPLATE_VERDICTS.filter((v) => summary.byVerdict[v] > 0).map((v) => `${v} ${summary.byVerdict[v]}`);
  out.push(`Launch templates: ${summary.templates} (${counts.join(', ') || 'none'}); ${summary.allowingV1} still allow IMDSv1 after this run`, '');
  const fixes = report.templates.filter((t) => t.verdict === 'fix');
  if (fixes.length > 0) {
    out.push(report.mode === 'apply' ? `Templates changed (${summary.changed}):` : `Templates that would get a new default version (${fixes.length}):`);
    for (const t of fixes) {
      const copies = t.changes
        .map((c, n) => `${t.createdVersions[n] !== undefined ? `version ${t.createdVersions[n]}` : 'a new version'} = version ${c.sourceVersion} + HttpTokens=required, ${c.hopLimit === undefined ? 'hop limit unset as in the source' : `hop limit ${c.hopLimit}`}${c.makeDefault ? ', made $Default' : ', as $Latest'}`)
        .join('; ');
      out.push(templateLine(t, `${copies}${t.changed ? ' [done]' : ''}`));
    }
    out.push('');
  }
  const left = report.templates.filter((t) => t.verdict !== 'fix' && t.verdict !== 'compliant' && t.allowsV1);
  if (left.length > 0) {
    out.push(`Templates left allowing IMDSv1 (${left.length}):`);
    for (const t of left) out.push(templateLine(t, TEMPLATE_LABELS[t.verdict]));
    out.push('');
  }
  const pinned = report.templates.flatMap((t) => t.pinned.map((p) => ({ t, p })));
  if (pinned.length > 0) {
    out.push(`Auto Scaling groups pinned to a template version that allows IMDSv1 (${pinned.length}); versions never change, so give the group a new one:`);
    for (const { t, p } of pinned) {
      out.push(`  ${p.group}  ${t.accountId}  ${t.region}  ${t.launchTemplateId} version ${p.version}: ${pinnedGroupAdvice(t.launchTemplateId, p.group, p.version)}`);
    }
    out.push('');
  }
  if (report.launchConfigurations.length > 0) {
    out.push(`Launch configurations that allow IMDSv1 (${report.launchConfigurations.length}); they cannot be changed:`);
    for (const c of report.launchConfigurations) out.push(`  ${c.name}  ${c.accountId}  ${c.region}: ${c.reason}`);
    out.push('');
  }
  return out;
};

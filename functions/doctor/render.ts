import { CHECKS, type CheckResult, type DoctorReport } from './report.ts';
import { textTable as table } from '../domain/text-table.ts';

const STATUS_LABEL: Record<CheckResult['status'], string> = { ok: 'ok', missing: 'MISSING', error: 'UNREADABLE' };

/**
 * The human view: counts per check, then every check that is not in place with its fix. Checks
 * that pass are only counted: at a thousand accounts they would bury the ones to act on.
 */
export const renderDoctor = (report: DoctorReport): string => {
  const { summary } = report;
  const out: string[] = [
    `DOCTOR: ${report.organizationId ?? 'organization unknown'}, ${summary.accounts} account(s), ${summary.accountRegions} account-region(s): ` +
      `${summary.checks} check(s), ${summary.ok} in place, ${summary.missing} missing, ${summary.error} unreadable`,
    '',
  ];
  const rows = [['check', 'in place', 'missing', 'unreadable']];
  for (const check of CHECKS) {
    const c = summary.byCheck[check];
    rows.push([check, String(c.ok), String(c.missing), String(c.error)]);
  }
  out.push(...table(rows), '');

  const problems = report.results.filter((r) => r.status !== 'ok');
  if (problems.length === 0) {
    out.push('Everything the sweep and the event path need is in place.');
    return out.join('\n');
  }
  out.push(`Not in place (${problems.length}):`);
  const lines = table(problems.map((r) => [STATUS_LABEL[r.status], r.check, r.accountId ?? '-', r.region ?? '-', r.detail]));
  problems.forEach((r, n) => {
    out.push(`  ${lines[n] ?? ''}`);
    if (r.fix) out.push(`    fix: ${r.fix}`);
  });
  out.push('');
  return out.join('\n');
};

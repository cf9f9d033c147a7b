// The human view of `imds-remediator guardrails`: the readiness table, what stands in the way,
// the files written and the commands that would attach them (printed, never run).
import type { ScopeError } from '../domain/model.ts';
import { printable, shellQuote } from '../domain/shell.ts';
import { textTable } from '../domain/text-table.ts';
import { BLOCKERS, type AccountReadiness, type Blocker, type UnitReadiness } from './readiness.ts';

export interface AttachTarget {
  id: string;
  name: string;
  kind: 'root' | 'ou' | 'account';
}

export interface GuardrailsReport {
  /** Every account in scope and every root and OU above one is ready. */
  ready: boolean;
  summary: { accounts: number; readyAccounts: number; units: number; readyUnits: number; sweepErrors: number };
  /** What the sweep could not read: its accounts are not ready. */
  errors: ScopeError[];
  units: UnitReadiness[];
  /** Accounts the sweep covered, and those of the tree it did not (not ready: never swept). */
  accounts: AccountReadiness[];
  files: { scp: string; scpChars: number; declarativePolicy: string };
  /** Where the guardrails could be attached now: the highest ready roots and OUs, then lone ready accounts. */
  targets: AttachTarget[];
  /** The commands a person runs to attach them; the tool never runs them. */
  commands: string[];
  /** What the person should know before attaching (the management account unknown). */
  warnings?: string[] | undefined;
}

/** What the SCP's launch statement denies besides IMDSv1: said beside the files and the commands. */
export const SCP_LAUNCH_NOTE =
  'the SCP denies every launch that does not explicitly ask for IMDSv2 (HttpTokens=required): Terraform aws_instance without metadata_options, aws ec2 run-instances without --metadata-options, launch templates without MetadataOptions (the ones imds-remediator writes set it)';

export const SCP_POLICY_NAME = 'imds-remediator-require-imdsv2';
export const DECLARATIVE_POLICY_NAME = 'imds-remediator-imdsv2-defaults';

/** The AWS CLI commands that create both policies and attach them to each target. */
export const attachCommands = (files: GuardrailsReport['files'], targets: AttachTarget[], rootIds: string[]): string[] => {
  if (targets.length === 0) return [];
  return [
    '# Once per organization, if these policy types are not enabled yet (aws organizations list-roots shows them):',
    ...rootIds.flatMap((root) => [
      `aws organizations enable-policy-type --root-id ${shellQuote(root)} --policy-type SERVICE_CONTROL_POLICY`,
      `aws organizations enable-policy-type --root-id ${shellQuote(root)} --policy-type DECLARATIVE_POLICY_EC2`,
    ]),
    // The declarative policy first: it makes IMDSv2 the default of launches that do not say, so the
    // SCP attached after it denies fewer of them.
    `DP_ID=$(aws organizations create-policy --type DECLARATIVE_POLICY_EC2 --name ${DECLARATIVE_POLICY_NAME} --description 'IMDSv2 required by default (imds-remediator guardrails)' --content ${shellQuote(`file://${files.declarativePolicy}`)} --query Policy.PolicySummary.Id --output text)`,
    ...targets.flatMap((t) => [`# ${t.kind} ${printable(t.name)}`, `aws organizations attach-policy --policy-id "$DP_ID" --target-id ${shellQuote(t.id)}`]),
    `# Then the SCP. Note: ${SCP_LAUNCH_NOTE}.`,
    `SCP_ID=$(aws organizations create-policy --type SERVICE_CONTROL_POLICY --name ${SCP_POLICY_NAME} --description 'Deny IMDSv1 at launch and its re-opening (imds-remediator guardrails)' --content ${shellQuote(`file://${files.scp}`)} --query Policy.PolicySummary.Id --output text)`,
    ...targets.flatMap((t) => [`# ${t.kind} ${printable(t.name)}`, `aws organizations attach-policy --policy-id "$SCP_ID" --target-id ${shellQuote(t.id)}`]),
  ];
};

/** The unswept regions a line names; the count says how many there are. */
const REGIONS_NAMED = 8;

const regionsText = (regions: string[] | undefined) => {
  if (regions === undefined) return ' (unknown: the plan did not say)';
  const more = regions.length > REGIONS_NAMED ? `, …${regions.length - REGIONS_NAMED} more` : '';
  return ` (${regions.slice(0, REGIONS_NAMED).map(printable).join(', ')}${more})`;
};

const blockerDetail = (a: AccountReadiness, b: Blocker) => {
  if (b === 'v1-in-use') return ` (${a.v1Calls} IMDSv1 calls)`;
  if (b === 'regions-not-swept') return regionsText(a.unsweptRegions);
  return '';
};

const blockerText = (a: AccountReadiness) =>
  (Object.keys(BLOCKERS) as Blocker[]).flatMap((b) => (a.blockers[b] ? [`${a.blockers[b]} ${BLOCKERS[b]}${blockerDetail(a, b)}`] : [])).join('; ');

export const renderGuardrails = (report: GuardrailsReport): string => {
  const { summary } = report;
  const out = [
    `GUARDRAILS: ${summary.readyAccounts} of ${summary.accounts} account(s) in scope and ${summary.readyUnits} of ${summary.units} root(s) and OU(s) ready for prevention (SCP, EC2 declarative policy)`,
    '',
    ...textTable([
      ['root / OU', 'id', 'ready', 'accounts ready'],
      ...report.units.map((u) => [printable(u.path), u.id, u.ready ? 'yes' : 'no', `${u.readyAccounts}/${u.accounts}`]),
    ]),
    '',
  ];
  const notReady = report.accounts.filter((a) => !a.ready);
  if (notReady.length > 0) {
    out.push(`Not ready (${notReady.length} account(s)):`);
    for (const a of notReady) {
      out.push(`  ${a.accountId} ${printable(a.name)}: ${blockerText(a)}`);
      for (const w of a.worst) {
        const calls = w.blocker === 'v1-in-use' && w.noTokenCalls !== null ? `, ${w.noTokenCalls} IMDSv1 calls` : '';
        out.push(`    ${w.id}${w.name ? ` (${printable(w.name)})` : ''}  ${w.region}  ${w.blocker}${calls}`);
      }
    }
    out.push('');
  }
  if (report.errors.length > 0) {
    out.push(`Could not be read (${report.errors.length}):`, ...report.errors.map((e) => `  ${e.accountId} ${e.region ?? '(all regions)'}: ${printable(e.message)}`), '');
  }
  out.push(
    'Guardrails written (attaching them is your decision; imds-remediator never attaches a policy):',
    `  ${report.files.scp}  (SCP, ${report.files.scpChars} of 5120 characters)`,
    `  ${report.files.declarativePolicy}  (EC2 declarative policy)`,
    `Note: ${SCP_LAUNCH_NOTE}.`,
    '',
    ...(report.warnings ?? []).map((w) => `Warning: ${w}.`),
  );
  if (report.commands.length === 0) {
    out.push('No root, OU or account is ready yet: nothing to attach.');
  } else {
    out.push('To attach them where every account is ready:', ...report.commands.map((c) => `  ${c}`));
  }
  return out.join('\n');
};

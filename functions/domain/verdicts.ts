// The verdict table: everything the code needs to know about each verdict, in one place.
// A Record over Verdict, so the compiler flags a verdict that is added without its row.
import type { Policy } from './policy.ts';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_RAISED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REOPENED_AT, TAG_REVERTED_AT } from './tags.ts';

export const VERDICTS = [
  'compliant',
  'fix-hop-limit',
  'hop-limit-above-policy',
  'enforce',
  'raise-hop-limit',
  'blocked-v1-in-use',
  'reopened-after-enforcement',
  'v1-rejected',
  'possible-ssrf-probe',
  'insufficient-evidence',
  'exempt',
  'gone',
  'error',
] as const;
export type Verdict = (typeof VERDICTS)[number];

export type ComplianceStatus = 'PASSED' | 'FAILED' | 'NOT_AVAILABLE';
export type SeverityLabel = 'INFORMATIONAL' | 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

/**
 * A modify sets HttpTokens (with the endpoint enabled and the decided hop limit), always or
 * only when the policy's rollback is `revert`, after stamping its tag and the reason: the tags
 * are the only record of what the tool did. `keep` sends the hop limit alone: a raise never
 * names `HttpTokens=optional`, so the member role can refuse every request that does unless
 * reverts are allowed, and EC2 keeps the options a call leaves out.
 */
export type Change =
  | { kind: 'none' }
  | { kind: 'modify'; when: 'always' | 'when-revert'; httpTokens: 'required' | 'optional' | 'keep'; stamp: string }
  /** Only the tag and the reason, once: a record later runs read, never a change to the instance's options. */
  | { kind: 'record'; stamp: string };

const NO_CHANGE: Change = { kind: 'none' };

export interface VerdictRow {
  /** How Slack names it. */
  label: string;
  /** The text report's column heading. */
  column: string;
  /** The finding's severity when an instance profile is attached, and when none is. */
  severity: { withProfile: SeverityLabel; withoutProfile: SeverityLabel };
  /** What applying the verdict does to the instance. */
  change: Change;
  /** Order of changes when a run cannot make them all: lower goes first. */
  urgency: number;
  /** Still allowing IMDSv1, or with the wrong hop limit, when the run leaves it unchanged. */
  nonCompliant: boolean;
}

export const VERDICT_TABLE: Record<Verdict, VerdictRow> = {
  compliant: {
    label: 'Compliant',
    column: 'compliant',
    severity: { withProfile: 'INFORMATIONAL', withoutProfile: 'INFORMATIONAL' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: false,
  },
  'fix-hop-limit': {
    label: 'Hop limit to fix',
    column: 'fix-hop',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: { kind: 'modify', when: 'always', httpTokens: 'required', stamp: TAG_HOP_LIMIT_SET_AT },
    urgency: 2,
    nonCompliant: true,
  },
  // IMDSv2 is required; the hop limit is above the policy's and kept, as `hopLimit.lower: report` asks.
  'hop-limit-above-policy': {
    label: 'Hop limit above policy (kept)',
    column: 'hop-high',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: true,
  },
  enforce: {
    label: 'Safe to enforce',
    column: 'enforce',
    severity: { withProfile: 'MEDIUM', withoutProfile: 'LOW' },
    change: { kind: 'modify', when: 'always', httpTokens: 'required', stamp: TAG_ENFORCED_AT },
    urgency: 1,
    nonCompliant: true,
  },
  // Two-phase container remediation: the hop limit is raised now with IMDSv1 still allowed
  // (IMDSv1 calls are not hop-limited, so this cannot break anything), and later sweeps measure again.
  'raise-hop-limit': {
    label: 'Hop limit raised, measuring again (IMDSv1 in use)',
    column: 'raise-hop',
    severity: { withProfile: 'HIGH', withoutProfile: 'MEDIUM' },
    change: { kind: 'modify', when: 'always', httpTokens: 'keep', stamp: TAG_HOP_LIMIT_RAISED_AT },
    urgency: 2,
    nonCompliant: true,
  },
  'blocked-v1-in-use': {
    label: 'Blocked (IMDSv1 in use)',
    column: 'blocked',
    severity: { withProfile: 'HIGH', withoutProfile: 'MEDIUM' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: true,
  },
  // Someone (a person, infrastructure as code) re-opened IMDSv1 after this tool enforced it: left
  // open, so that the two do not fight in a loop, and recorded so that later sweeps leave it open too.
  'reopened-after-enforcement': {
    label: 'Re-opened after enforcement (left open)',
    column: 'reopened',
    severity: { withProfile: 'HIGH', withoutProfile: 'MEDIUM' },
    change: { kind: 'record', stamp: TAG_REOPENED_AT },
    urgency: 3,
    nonCompliant: true,
  },
  // Enforced, and a workload is failing for it (or it was reverted to IMDSv1 because of that):
  // something is broken in production because of an enforcement, the most urgent finding we make.
  'v1-rejected': {
    label: 'IMDSv1 rejected after enforcement (workload failing)',
    column: 'rejected',
    severity: { withProfile: 'CRITICAL', withoutProfile: 'CRITICAL' },
    change: { kind: 'modify', when: 'when-revert', httpTokens: 'optional', stamp: TAG_REVERTED_AT },
    urgency: 0,
    nonCompliant: true,
  },
  // Rejected IMDSv1 calls that began too long after the enforcement to be a workload it broke
  // (that fails at once): they look like an SSRF probe without a token. An alert; never a revert.
  'possible-ssrf-probe': {
    label: 'IMDSv1 rejected long after enforcement (possible SSRF probe)',
    column: 'probe',
    severity: { withProfile: 'CRITICAL', withoutProfile: 'CRITICAL' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: false,
  },
  'insufficient-evidence': {
    label: 'Not enough evidence',
    column: 'no-data',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: true,
  },
  exempt: {
    label: 'Exempt',
    column: 'exempt',
    severity: { withProfile: 'INFORMATIONAL', withoutProfile: 'INFORMATIONAL' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: false,
  },
  gone: {
    label: 'Gone (terminated)',
    column: 'gone',
    severity: { withProfile: 'INFORMATIONAL', withoutProfile: 'INFORMATIONAL' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: false,
  },
  error: {
    label: 'Errors',
    column: 'error',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: NO_CHANGE,
    urgency: 3,
    nonCompliant: false,
  },
};

/**
 * Does applying this verdict change the instance (its options, or its tags for a record),
 * under this policy? A record is made once: an instance that carries its tag has it.
 */
export const isChange = (verdict: Verdict, policy: Pick<Policy, 'rollback'>, tags: Record<string, string>): boolean => {
  const { change } = VERDICT_TABLE[verdict];
  if (change.kind === 'record') return !(change.stamp in tags);
  return change.kind === 'modify' && (change.when === 'always' || policy.rollback === 'revert');
};

/** A change any policy in enforce mode makes: what a plan lists as "would change". */
export const isPlannedChange = (verdict: Verdict): boolean => {
  const { change } = VERDICT_TABLE[verdict];
  return change.kind === 'modify' && change.when === 'always';
};

/** The one change that re-opens IMDSv1 after enforcement: the rollback watch's revert. */
export const isRevert = (verdict: Verdict): boolean => {
  const { change } = VERDICT_TABLE[verdict];
  return change.kind === 'modify' && change.when === 'when-revert';
};

/** Once applied, does this verdict leave IMDSv2 required? */
export const requiresTokensOnceApplied = (verdict: Verdict): boolean => {
  const { change } = VERDICT_TABLE[verdict];
  return change.kind === 'modify' && change.httpTokens === 'required';
};

/**
 * May this run change instances? Only when the policy's mode is `enforce` and every party that
 * can ask for a plan (the command, the deployment, the execution's input) asked to apply.
 */
export const mayChange = (policy: Pick<Policy, 'mode'>, ...requests: boolean[]): boolean =>
  policy.mode === 'enforce' && requests.every(Boolean);

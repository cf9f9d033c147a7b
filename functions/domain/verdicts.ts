// The verdict table: everything the code needs to know about each verdict, in one place.
// A Record over Verdict, so the compiler flags a verdict that is added without its row.
import type { Policy } from './policy.ts';

export const VERDICTS = [
  'compliant',
  'fix-hop-limit',
  'hop-limit-above-policy',
  'enforce',
  'blocked-v1-in-use',
  'v1-rejected',
  'insufficient-evidence',
  'exempt',
  'gone',
  'error',
] as const;
export type Verdict = (typeof VERDICTS)[number];

export type ComplianceStatus = 'PASSED' | 'FAILED' | 'NOT_AVAILABLE';
export type SeverityLabel = 'INFORMATIONAL' | 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

export interface VerdictRow {
  /** How Slack names it. */
  label: string;
  /** The text report's column heading. */
  column: string;
  /** The finding's Compliance.Status while the instance is left as it is. */
  compliance: ComplianceStatus;
  /** The finding's severity when an instance profile is attached, and when none is. */
  severity: { withProfile: SeverityLabel; withoutProfile: SeverityLabel };
  /**
   * Whether applying the verdict changes the instance: always, only when the policy's
   * rollback is `revert`, or never.
   */
  change: 'always' | 'when-revert' | 'never';
  /** Order of changes when a run cannot make them all: lower goes first. */
  urgency: number;
  /** Still allowing IMDSv1, or with the wrong hop limit, when the run leaves it unchanged. */
  nonCompliant: boolean;
}

export const VERDICT_TABLE: Record<Verdict, VerdictRow> = {
  compliant: {
    label: 'Compliant',
    column: 'compliant',
    compliance: 'PASSED',
    severity: { withProfile: 'INFORMATIONAL', withoutProfile: 'INFORMATIONAL' },
    change: 'never',
    urgency: 3,
    nonCompliant: false,
  },
  'fix-hop-limit': {
    label: 'Hop limit to fix',
    column: 'fix-hop',
    compliance: 'FAILED',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: 'always',
    urgency: 2,
    nonCompliant: true,
  },
  // IMDSv2 is required; the hop limit is above the policy's and kept, as `hopLimit.lower: report` asks.
  'hop-limit-above-policy': {
    label: 'Hop limit above policy (kept)',
    column: 'hop-high',
    compliance: 'FAILED',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: 'never',
    urgency: 3,
    nonCompliant: true,
  },
  enforce: {
    label: 'Safe to enforce',
    column: 'enforce',
    compliance: 'FAILED',
    severity: { withProfile: 'MEDIUM', withoutProfile: 'LOW' },
    change: 'always',
    urgency: 1,
    nonCompliant: true,
  },
  'blocked-v1-in-use': {
    label: 'Blocked (IMDSv1 in use)',
    column: 'blocked',
    compliance: 'FAILED',
    severity: { withProfile: 'HIGH', withoutProfile: 'MEDIUM' },
    change: 'never',
    urgency: 3,
    nonCompliant: true,
  },
  // Enforced, and a workload is failing for it (or it was reverted to IMDSv1 because of that):
  // something is broken in production because of an enforcement, the most urgent finding we make.
  'v1-rejected': {
    label: 'IMDSv1 rejected after enforcement (workload failing)',
    column: 'rejected',
    compliance: 'FAILED',
    severity: { withProfile: 'CRITICAL', withoutProfile: 'CRITICAL' },
    change: 'when-revert',
    urgency: 0,
    nonCompliant: true,
  },
  // Not judged: unknown evidence, an exemption, or a failed call are not a FAILED control.
  'insufficient-evidence': {
    label: 'Not enough evidence',
    column: 'no-data',
    compliance: 'NOT_AVAILABLE',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: 'never',
    urgency: 3,
    nonCompliant: true,
  },
  exempt: {
    label: 'Exempt',
    column: 'exempt',
    compliance: 'NOT_AVAILABLE',
    severity: { withProfile: 'INFORMATIONAL', withoutProfile: 'INFORMATIONAL' },
    change: 'never',
    urgency: 3,
    nonCompliant: false,
  },
  gone: {
    label: 'Gone (terminated)',
    column: 'gone',
    compliance: 'NOT_AVAILABLE',
    severity: { withProfile: 'INFORMATIONAL', withoutProfile: 'INFORMATIONAL' },
    change: 'never',
    urgency: 3,
    nonCompliant: false,
  },
  error: {
    label: 'Errors',
    column: 'error',
    compliance: 'NOT_AVAILABLE',
    severity: { withProfile: 'LOW', withoutProfile: 'LOW' },
    change: 'never',
    urgency: 3,
    nonCompliant: false,
  },
};

/** Does applying this verdict change the instance, under this policy? */
export const isChange = (verdict: Verdict, policy: Pick<Policy, 'rollback'>): boolean => {
  const { change } = VERDICT_TABLE[verdict];
  return change === 'always' || (change === 'when-revert' && policy.rollback === 'revert');
};

/** The one change that re-opens IMDSv1: the rollback watch's revert. */
export const isRevert = (verdict: Verdict): boolean => VERDICT_TABLE[verdict].change === 'when-revert';

/**
 * May this run change instances? Only when the policy's mode is `enforce` and every party that
 * can ask for a plan (the command, the deployment, the execution's input) asked to apply.
 */
export const mayChange = (policy: Pick<Policy, 'mode'>, ...requests: boolean[]): boolean =>
  policy.mode === 'enforce' && requests.every(Boolean);

// The doctor's result: one row per check, and the counts that say whether the set-up is complete.

export const CHECKS = ['organization', 'central-bus', 'member-role', 'security-hub', 'cloudtrail', 'event-rule'] as const;
export type CheckName = (typeof CHECKS)[number];

/** `missing`: AWS answered and the prerequisite is absent. `error`: it could not be read (access denied, throttled). */
export type CheckStatus = 'ok' | 'missing' | 'error';

export interface CheckResult {
  check: CheckName;
  /** Null for checks about the organization or the caller. */
  accountId: string | null;
  region: string | null;
  status: CheckStatus;
  detail: string;
  /** What to run or deploy; present whenever the status is not ok. */
  fix?: string;
}

export interface CheckCounts {
  ok: number;
  missing: number;
  error: number;
}

export interface DoctorReport {
  /** True only when every check is ok: the CLI exits 0 then, 1 otherwise. */
  ok: boolean;
  organizationId: string | null;
  summary: CheckCounts & { checks: number; accounts: number; accountRegions: number; byCheck: Record<CheckName, CheckCounts> };
  results: CheckResult[];
}

const order = (r: CheckResult) => CHECKS.indexOf(r.check);

/** Sorts the rows (organization first, then by account, region and check) and counts them. */
export const buildDoctorReport = (
  results: CheckResult[],
  scope: { organizationId: string | null; accounts: number; accountRegions: number },
): DoctorReport => {
  const sorted = [...results].sort(
    (a, b) =>
      Number(a.accountId !== null) - Number(b.accountId !== null) ||
      (a.accountId ?? '').localeCompare(b.accountId ?? '') ||
      (a.region ?? '').localeCompare(b.region ?? '') ||
      order(a) - order(b),
  );
  const zero = (): CheckCounts => ({ ok: 0, missing: 0, error: 0 });
  const byCheck = Object.fromEntries(CHECKS.map((c) => [c, zero()])) as Record<CheckName, CheckCounts>;
  const total = zero();
  for (const r of sorted) {
    byCheck[r.check][r.status] += 1;
    total[r.status] += 1;
  }
  return {
    ok: total.missing === 0 && total.error === 0,
    organizationId: scope.organizationId,
    summary: { checks: sorted.length, ...total, accounts: scope.accounts, accountRegions: scope.accountRegions, byCheck },
    results: sorted,
  };
};

// The bench's own checks, kept pure so that they are tested: a strategy run counts only when
// it swept every seeded instance without an error; only then are its figures compared with
// a target, and only a bench whose runs all counted writes results.

export interface RunCounts {
  /** Instances the run reported on. */
  instances: number;
  /** Errors of whole account-regions plus instances whose verdict is `error`. */
  errors: number;
  /** The first few error messages, to say why. */
  errorMessages: string[];
}

/** Why a run's figures cannot be counted; empty when they can. */
export const runProblems = (run: string, seeded: number, counts: RunCounts): string[] => {
  const problems: string[] = [];
  if (counts.errors > 0) {
    const first = counts.errorMessages[0];
    problems.push(`${run}: ${counts.errors} error${counts.errors === 1 ? '' : 's'}${first ? ` (first: ${first})` : ''}`);
  }
  if (counts.instances !== seeded) problems.push(`${run}: reported ${counts.instances} of the ${seeded} instances seeded`);
  return problems;
};

/** A run the bench cannot count: its figures are neither compared with a target nor written. */
export class RunFailed extends Error {
  override name = 'RunFailed';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

/** The run's result, when it counts; otherwise RunFailed naming every problem. */
export const counted = <R extends RunCounts>(run: string, seeded: number, result: R): R => {
  const problems = runProblems(run, seeded, result);
  if (problems.length > 0) throw new RunFailed(problems);
  return result;
};

/** One target's line: only ever called with the figures of runs that counted. */
export const targetLine = (ok: boolean, text: string): string => `${ok ? 'met    ' : 'MISSED '} ${text}`;

/** What bench/results.json holds: the results of a bench whose runs all counted, or why it failed. */
export const resultsFile = <P, R extends object>(params: P, results: R, failures: string[]): { params: P; failures: string[] } | (R & { params: P }) =>
  failures.length > 0 ? { params, failures } : { params, ...results };

/** The process exit code: 1 when any run failed. */
export const exitCode = (failures: string[]): number => (failures.length > 0 ? 1 : 0);

// The bench's own checks: a strategy run counts only when it swept every seeded instance
// without an error, and only then do its figures meet targets or reach bench/results.json.
import { describe, expect, it } from 'vitest';
import { counted, exitCode, resultsFile, runProblems, RunFailed, type RunCounts } from '../../bench/check.ts';

const clean: RunCounts = { instances: 5000, errors: 0, errorMessages: [] };

describe('a strategy run counts only when it is complete and error-free', () => {
  it.each<[string, number, RunCounts]>([
    ['a clean run of every seeded instance', 0, clean],
    // The run issue 17 reports: the shard's GetMetricData timed out and it reported nothing.
    ['a run that reported 0 of 5,000 instances after an error', 2, { instances: 0, errors: 1, errorMessages: ['cannot read MetadataNoToken: TimeoutError'] }],
    ['a run with an instance in error', 1, { ...clean, errors: 1, errorMessages: ['i-1: cannot read'] }],
    ['a run that reported fewer instances than seeded', 1, { ...clean, instances: 4999 }],
    ['a run that reported more instances than seeded', 1, { ...clean, instances: 5001 }],
  ])('%s: %i problems', (_, problems, counts) => {
    expect(runProblems('one shard', 5000, counts)).toHaveLength(problems);
    if (problems === 0) expect(counted('one shard', 5000, counts)).toBe(counts);
    else expect(() => counted('one shard', 5000, counts)).toThrow(RunFailed);
  });

  it('a failed run says which run, how many errors and the first message', () => {
    const problems = runProblems('production sweep', 40, { instances: 40, errors: 3, errorMessages: ['cannot read MetadataNoToken: AccessDenied'] });

    expect(problems).toEqual(['production sweep: 3 errors (first: cannot read MetadataNoToken: AccessDenied)']);
  });
});

describe('what the bench writes and how it exits', () => {
  const params = { instances: 400 };
  const results = { production: { calls: 12 }, shard: { peakRssMb: 200 } };

  it('a bench whose runs all counted writes its results and exits 0', () => {
    expect(resultsFile(params, results, [])).toEqual({ params, ...results });
    expect(exitCode([])).toBe(0);
  });

  it('a bench with a failed run writes only the failures, no figures, and exits 1', () => {
    const failures = ['one shard: reported 0 of the 5000 instances seeded'];

    expect(resultsFile(params, results, failures)).toEqual({ params, failures });
    expect(exitCode(failures)).toBe(1);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globMatch, globMatcher } from '../../functions/domain/glob.ts';

/**
 * The regular expression the policy used to build from a glob: the semantics the matcher
 * must keep. It backtracks exponentially, so it is only ever run here on short inputs.
 */
const regexOracle = (pattern: string, text: string): boolean => {
  const body = pattern
    .split('')
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^$()|\\/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`).test(text);
};

/** The most steps a match may take: every resume from a star replays at most the pattern. */
const bound = (pattern: string, text: string) => (text.length + pattern.length + 1) * (pattern.length + 1);

describe('glob matching', () => {
  it.each([
    ['kubernetes.io/cluster/*', 'kubernetes.io/cluster/blue', true],
    ['kubernetes.io/cluster/*', 'kubernetes.io/clusters', false],
    ['team-?', 'team-a', true],
    ['team-?', 'team-ab', false],
    ['*', '', true],
    ['a*b*c', 'a-b-b-c', true],
    ['a*b*c', 'a-c-b', false],
    ['eks:cluster-name', 'eks:cluster-name', true],
    ['v1.2', 'v1x2', false],
  ])('%s against %s is %s', (pattern, text, expected) => {
    expect(globMatcher(pattern)(text)).toBe(expected);
  });

  // A member-account user can set a 255-character Name tag; the policy's pattern is ours.
  // The regular expression this replaces took minutes of one core on the same input.
  it.each([
    ['a Name tag that never matches', '-'.repeat(255), false],
    ['a Name tag that matches only at its very end', `${'-'.repeat(250)}-prod`, true],
    ['a Name tag of near misses', 'a-'.repeat(125).padEnd(255, 'p'), false],
  ])('matches *-*-*-*-*-*-prod in steps that grow with text × pattern, on %s', (_, text, expected) => {
    const pattern = '*-*-*-*-*-*-prod';
    expect(text).toHaveLength(255);

    const { matched, steps } = globMatch(pattern, text);

    expect(matched).toBe(expected);
    expect(steps).toBeLessThanOrEqual(bound(pattern, text));
  });

  it('agrees with the old regular-expression semantics on small random inputs', () => {
    // Regex metacharacters are in the alphabet to check that they stay literal. Line breaks are
    // left out: the old `.` did not match them, an accident that no AWS tag relies on.
    const alphabet = fc.constantFrom('a', 'A', 'b', '-', '.', '+', '(', ')', '|', '\\', '/', '^', '$');
    const pattern = fc.array(fc.oneof(alphabet, fc.constantFrom('*', '?')), { maxLength: 8 }).map((cs) => cs.join(''));
    const text = fc.array(fc.oneof(alphabet, fc.constantFrom('*', '?')), { maxLength: 12 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(pattern, text, (p, t) => {
        expect(globMatcher(p)(t)).toBe(regexOracle(p, t));
      }),
      { numRuns: 5000 },
    );
  });

  it('stays within the step bound on random inputs', () => {
    const pattern = fc.array(fc.constantFrom('a', 'b', '*', '?'), { maxLength: 20 }).map((cs) => cs.join(''));
    const text = fc.array(fc.constantFrom('a', 'b'), { maxLength: 200 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(pattern, text, (p, t) => {
        expect(globMatch(p, t).steps).toBeLessThanOrEqual(bound(p, t));
      }),
      { numRuns: 2000 },
    );
  });
});

// Tag keys and values in the policy may use `*` (any run) and `?` (one character).
//
// Tag keys and values are written by member-account users, so matching must stay cheap
// whatever they write. A regular expression built from the glob backtracks exponentially
// (`*-*-*-*-*-*-prod` against a 255-character Name tag held a core for minutes), so the
// matcher below only ever resumes from the last star: its steps grow with text × pattern,
// never exponentially.

const UNSUPPORTED = /[[\]{}]/;

/** More stars add nothing a person needs, and each one widens what a rule matches. */
export const MAX_GLOB_STARS = 8;

export type GlobProblem = 'empty' | 'unsupported' | 'too-many-stars';

/** Why a pattern cannot be a policy glob, or undefined when it can. */
export const globProblem = (pattern: string): GlobProblem | undefined => {
  if (pattern.length === 0) return 'empty';
  if (UNSUPPORTED.test(pattern)) return 'unsupported';
  if (starCount(pattern) > MAX_GLOB_STARS) return 'too-many-stars';
  return undefined;
};

export const starCount = (pattern: string): number => pattern.split('*').length - 1;

/**
 * Matches `text` against `pattern` and says how many steps it took (a step compares one
 * character or moves past one star), so that a test can bound the work without a clock.
 * The classic two-pointer wildcard match: on a mismatch it resumes from the last star only,
 * because any earlier star could only have absorbed text that the last one can absorb too.
 */
export const globMatch = (pattern: string, text: string): { matched: boolean; steps: number } => {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  let steps = 0;
  while (t < text.length) {
    steps++;
    const ch = pattern[p];
    if (ch === '*') {
      star = p++;
      resume = t;
    } else if (ch !== undefined && (ch === '?' || ch === text[t])) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return { matched: false, steps };
    }
  }
  while (pattern[p] === '*') {
    steps++;
    p++;
  }
  return { matched: p === pattern.length, steps };
};

export const globMatcher = (pattern: string): ((text: string) => boolean) => {
  if (!/[*?]/.test(pattern)) return (text) => text === pattern;
  return (text) => globMatch(pattern, text).matched;
};

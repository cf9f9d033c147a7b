// Tag keys and values in the policy may use `*` (any run) and `?` (one character).

const UNSUPPORTED = /[[\]{}]/;

export const isValidGlob = (pattern: string): boolean => pattern.length > 0 && !UNSUPPORTED.test(pattern);

export const globToRegExp = (pattern: string): RegExp => {
  const body = pattern
    .split('')
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^$()|\\/]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
};

export const globMatcher = (pattern: string): ((text: string) => boolean) => {
  if (!/[*?]/.test(pattern)) return (text) => text === pattern;
  const re = globToRegExp(pattern);
  return (text) => re.test(text);
};

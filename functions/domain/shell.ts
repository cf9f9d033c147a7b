// Printing what a person copies into a terminal: text from member accounts (an Auto Scaling group's
// name, a tag's value, an OU's name) may be hostile, so it is never pasted into a command as is.

/**
 * Control characters (C0, DEL, C1), line and paragraph separators and bidi overrides as `?`: a
 * name must not move a terminal's cursor, break a line or reorder the text around it.
 */
export const printable = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '?');

/**
 * One POSIX-shell argument that stands for the text and nothing else: left as it is when it holds
 * only characters no shell interprets, else in single quotes, with each `'` written `'\''`.
 * Control characters become `?` first (see printable): a command naming such a resource then
 * names none and fails, but never runs anything or rewrites the terminal.
 */
export const shellQuote = (text: string): string => {
  const safe = printable(text);
  return /^[\w./:@=+,-]+$/.test(safe) ? safe : `'${safe.replace(/'/g, `'\\''`)}'`;
};

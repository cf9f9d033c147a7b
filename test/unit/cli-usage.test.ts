import { describe, expect, it } from 'vitest';
import { asksOnlyForHelp } from '../../functions/app/usage.ts';

describe('asksOnlyForHelp: the entry answers these from the usage alone, before loading the CLI', () => {
  it.each([
    [['--help'], true],
    [['-h'], true],
    [['plan', '--help'], true],
    [['--help', 'doctor'], true],
    [[], false],
    [['plan', '--policy', 'p.yaml'], false],
    // The CLI's own parsing answers these: a bad option is exit 2 even beside --help.
    [['--help', '--bogus'], false],
    [['frobnicate', '--help'], false],
    [['event', 'saved.json', '--help'], false],
  ])('%j → %s', (argv, expected) => {
    expect(asksOnlyForHelp(argv)).toBe(expected);
  });
});

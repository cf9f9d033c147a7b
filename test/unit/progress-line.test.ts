import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MIN_REDRAW_MS, ProgressLine, roughly, statusText } from '../../functions/app/progress-line.ts';
import type { PacingProgress } from '../../functions/pipeline/apply.ts';
import { screen } from '../support/terminal.ts';

const terminal = (options: { isTty?: boolean; columns?: number } = {}) => {
  const writes: string[] = [];
  const line = new ProgressLine({ write: (t) => void writes.push(t), isTty: options.isTty ?? true, columns: options.columns ?? 200 }, () => Date.now());
  return { line, writes, shown: () => screen(writes) };
};

const wait = (overrides: Partial<PacingProgress> = {}): PacingProgress => ({
  shard: { accountId: '111111111111', region: 'us-east-1' },
  sent: 123,
  total: 4000,
  msLeft: 775_400,
  ...overrides,
});

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the status line on a terminal', () => {
  it('says what the run waits for, how far it is and how long is left', () => {
    const { line, shown } = terminal();

    line.swept(3, 12);
    vi.advanceTimersByTime(MIN_REDRAW_MS);
    line.pacing(wait());
    vi.advanceTimersByTime(MIN_REDRAW_MS);

    expect(shown()).toEqual([
      "waiting for EC2's modify rate, ~13 min left: 123 of 4,000 changes in 111111111111 us-east-1; swept 3 of 12 account-regions",
    ]);
  });

  it('is redrawn in place at most every 250 ms, with the latest figures', () => {
    const { line, writes, shown } = terminal();

    for (let sent = 100; sent < 120; sent++) line.pacing(wait({ sent, msLeft: (4000 - sent) * 200 }));

    expect(writes).toHaveLength(1);
    vi.advanceTimersByTime(MIN_REDRAW_MS);
    expect(writes).toHaveLength(2);
    expect(shown()).toEqual([expect.stringMatching(/^waiting for EC2's modify rate, ~13 min left: 119 of 4,000 changes/)]);
  });

  it('steps aside for log lines: each stays whole on its own line, and the status comes back after them', () => {
    const { line, shown } = terminal();
    line.pacing(wait());

    line.write('{"level":"INFO","message":"decision"}\n');
    line.write('{"level":"INFO","message":"instance changed"}\n');
    vi.advanceTimersByTime(MIN_REDRAW_MS);

    expect(shown()).toEqual([
      '{"level":"INFO","message":"decision"}',
      '{"level":"INFO","message":"instance changed"}',
      expect.stringMatching(/^waiting for EC2's modify rate/),
    ]);
  });

  it('names the account-region with the longest wait and counts the others waiting beside it', () => {
    const text = statusText(undefined, [
      wait({ shard: { accountId: '222222222222', region: 'eu-west-1' }, sent: 10, total: 300, msLeft: 40_000 }),
      wait(),
      wait({ shard: { accountId: '333333333333', region: 'us-east-1' }, msLeft: 1_000 }),
    ]);

    expect(text).toBe("waiting for EC2's modify rate, ~13 min left: 123 of 4,000 changes in 111111111111 us-east-1 (and 2 other account-regions)");
  });

  it('drops an account-region once all its changes had their turn, and says nothing when nothing waits', () => {
    const { line, shown } = terminal();
    line.pacing(wait());

    line.pacing(wait({ sent: 4000, msLeft: 0 }));
    vi.advanceTimersByTime(MIN_REDRAW_MS);

    expect(shown()).toEqual(['']);
  });

  it('cuts a line wider than the terminal, so that it is still redrawn in place', () => {
    const { line, shown } = terminal({ columns: 40 });

    line.pacing(wait());
    line.pacing(wait({ sent: 200 }));
    vi.advanceTimersByTime(MIN_REDRAW_MS);

    expect(shown()).toHaveLength(1);
    expect(shown()[0]).toMatch(/^waiting for EC2's modify rate, ~13 min…$/);
    expect(shown()[0]?.length).toBeLessThan(40);
  });

  it('takes a terminal that does not tell its width to be 80 wide', () => {
    const { line, shown } = terminal({ columns: 0 });

    line.swept(3, 12);
    line.pacing(wait());
    vi.advanceTimersByTime(MIN_REDRAW_MS);

    expect(shown()).toEqual(["waiting for EC2's modify rate, ~13 min left: 123 of 4,000 changes in 111111111…"]);
  });

  it('is erased at the end, and nothing draws it again', () => {
    const { line, writes, shown } = terminal();
    line.pacing(wait());
    line.pacing(wait({ sent: 124 }));

    line.end();
    vi.advanceTimersByTime(10 * MIN_REDRAW_MS);
    const after = writes.length;
    line.pacing(wait({ sent: 125 }));
    vi.advanceTimersByTime(MIN_REDRAW_MS);

    expect(shown()).toEqual(['']);
    expect(writes).toHaveLength(after);
  });
});

describe('the status line when stderr is not a terminal', () => {
  it('writes nothing of its own and passes everything else through unchanged', () => {
    const { line, writes } = terminal({ isTty: false });

    line.swept(1, 2);
    line.pacing(wait());
    line.write('{"level":"INFO","message":"decision"}\n');
    vi.advanceTimersByTime(10 * MIN_REDRAW_MS);
    line.end();

    expect(writes).toEqual(['{"level":"INFO","message":"decision"}\n']);
  });
});

describe('roughly: an estimate no more precise than it is', () => {
  it.each([
    [0, '~1 s'],
    [400, '~1 s'],
    [40_200, '~41 s'],
    [60_000, '~1 min'],
    [775_400, '~13 min'],
    [7_500_000, '~2 h 5 min'],
  ])('%i ms → %s', (ms, text) => {
    expect(roughly(ms)).toBe(text);
  });
});

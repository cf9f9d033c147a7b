import { describe, expect, it } from 'vitest';
import { changeBudget } from '../../functions/pipeline/apply.ts';

describe('change budget of one account-region per run', () => {
  it('is unlimited without a cap or a deadline (the CLI: a person waits)', () => {
    expect(changeBudget(undefined, undefined)).toBe(Infinity);
  });

  it('is what EC2 lets through before the deadline: a burst of 100, then 5 a second', () => {
    expect(changeBudget(undefined, 60)).toBe(400);
    // 750 s of modifies: the burst of 100, then 3,750 at 5 a second.
    expect(changeBudget(undefined, 750)).toBe(3850);
    expect(changeBudget(undefined, 0.5)).toBe(102);
  });

  it('is nothing once the deadline has passed', () => {
    expect(changeBudget(undefined, 0)).toBe(0);
    expect(changeBudget(500, -30)).toBe(0);
  });

  it('is the policy cap when that is the smaller', () => {
    expect(changeBudget(50, 750)).toBe(50);
    expect(changeBudget(50, undefined)).toBe(50);
    expect(changeBudget(5000, 60)).toBe(400);
  });
});

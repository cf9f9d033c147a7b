import { readFileSync } from 'node:fs';
import { parsePolicy, parsePolicyText, type Policy } from '../functions/domain/policy.ts';

/** The benchmark's policy: the shipped policy.yaml, enforcing, scoped to the seeded regions. */
export const benchPolicy = (regions: string[], lookbackDays: number): Policy => {
  const shipped = parsePolicyText(readFileSync('policy.yaml', 'utf8'), 'policy.yaml');
  return parsePolicy({ ...shipped, mode: 'enforce', lookbackDays, minObservedDays: 7, scope: { regions, accounts: [], ous: [] } });
};

import { readFileSync } from 'node:fs';
import { parsePolicy, parsePolicyText, type Policy } from '../functions/domain/policy.ts';

/** The benchmark's policy: the demo's (local/demo-policy.yaml), scoped to the seeded regions. */
export const benchPolicy = (regions: string[], lookbackDays: number): Policy => {
  const shipped = parsePolicyText(readFileSync('local/demo-policy.yaml', 'utf8'), 'local/demo-policy.yaml');
  return parsePolicy({ ...shipped, mode: 'enforce', lookbackDays, minObservedDays: 7, scope: { regions, accounts: [], ous: [] } });
};

import { readFileSync } from 'node:fs';
import { parsePolicy, parsePolicyText, type Policy } from '../functions/domain/policy.ts';

/**
 * The benchmark's policy: the demo's (local/demo-policy.yaml), scoped to the seeded regions. The
 * launch-template step is off: the baseline has no template work, and the ratio compares equal
 * work (its fixed cost, 3 calls an account-region, is in docs/SCALE.md).
 */
export const benchPolicy = (regions: string[], lookbackDays: number): Policy => {
  const shipped = parsePolicyText(readFileSync('local/demo-policy.yaml', 'utf8'), 'local/demo-policy.yaml');
  return parsePolicy({
    ...shipped,
    mode: 'enforce',
    lookbackDays,
    minObservedDays: 7,
    scope: { regions, accounts: [], ous: [] },
    launchTemplates: { enabled: false },
  });
};

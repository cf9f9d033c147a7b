import { parsePolicy, type Policy } from '../functions/core/policy.ts';

/** The benchmark's policy: the shape of policy.yaml, scoped to the seeded regions. */
export const benchPolicy = (regions: string[], lookbackDays: number): Policy =>
  parsePolicy({
    mode: 'enforce',
    lookbackDays,
    minObservedDays: 7,
    scope: { regions },
    hopLimit: {
      default: 1,
      rules: [
        { tagKey: 'eks:cluster-name', hopLimit: 2 },
        { tagKey: 'kubernetes.io/cluster/*', hopLimit: 2 },
        { tagKey: 'workload', values: ['container', 'ecs', 'docker'], hopLimit: 2 },
      ],
    },
    exempt: { tags: [{ key: 'imds-remediator:exempt', values: ['true'] }] },
  });

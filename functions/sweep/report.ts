import type { ShardResult, SweepReport } from '../domain/model.ts';
import { VERDICTS } from '../domain/model.ts';
import type { SweepPlan } from './plan.ts';

export const buildReport = (mode: SweepReport['mode'], plan: SweepPlan, shards: ShardResult[]): SweepReport => {
  const instances = shards.flatMap((s) => s.instances);
  const errors = [...plan.errors, ...shards.flatMap((s) => s.errors)];
  const byVerdict = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as SweepReport['summary']['byVerdict'];
  for (const i of instances) byVerdict[i.verdict] += 1;
  return {
    mode,
    summary: {
      byVerdict,
      changed: instances.filter((i) => i.changed).length,
      errors: errors.length + byVerdict.error,
      accounts: plan.accounts,
      shards: plan.shards.length,
    },
    instances,
    errors,
  };
};

import { describe, expect, it } from 'vitest';
import type { InstanceResult } from '../../functions/domain/model.ts';
import { aggregate } from '../../functions/report/aggregate.ts';
import { digestShard, summarizePlan } from '../../functions/report/digest.ts';
import { renderReport } from '../../functions/report/render-text.ts';

/** The policy's hop-limit ceiling in these tests: hop limits up to it are within the SCP. */
const digestOf = (result: Parameters<typeof digestShard>[0]) => digestShard(result, { hopCeiling: 64 });

const instance = (overrides: Partial<InstanceResult>): InstanceResult => ({
  accountId: '111111111111',
  region: 'eu-west-1',
  instanceId: 'i-0123456789abcdef0',
  verdict: 'enforce',
  reason: '0 IMDSv1 calls on 14 observed days of the last 14 days; hop limit 1 by default',
  noTokenCalls: 0,
  observedDays: 14,
  hopLimit: 1,
  changed: true,
  ...overrides,
});

describe('the report', () => {
  it('lists an instance terminated during the run as gone, apart from the errors, and does not count it as one', () => {
    const gone = instance({
      instanceId: 'i-0aaaaaaaaaaaaaaaa',
      verdict: 'gone',
      changed: false,
      reason: 'terminated before it could be changed (enforce was due; EC2 says InvalidInstanceID.NotFound)',
    });
    const plan = { shards: [{ accountId: '111111111111', region: 'eu-west-1' }], errors: [], accounts: 1 };
    const shard = { shard: plan.shards[0] ?? { accountId: '', region: '' }, instances: [instance({}), gone], errors: [] };
    const summed = aggregate({ mode: 'apply', plan: summarizePlan(plan), digests: [digestOf(shard)], findingsEnabled: false }).report;
    const report = { ...summed, instances: shard.instances };

    const text = renderReport(report);

    expect(report.summary).toMatchObject({ errors: 0, changed: 1, byVerdict: expect.objectContaining({ gone: 1, error: 0 }) });
    expect(text).toContain('Gone, terminated during the run (1):\n  i-0aaaaaaaaaaaaaaaa  111111111111  eu-west-1  gone: terminated before it could be changed');
    expect(text).not.toContain('Errors (');
  });
});

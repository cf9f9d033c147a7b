// A shard with more changes than one run may make: the most urgent first, the rest deferred
// (untouched and untagged), taken up by the next runs until the account-region converges.
import type { MiddlewareStack } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import type { AnyClient } from '../../functions/app/compose.ts';
import { TAG_ENFORCED_AT, TAG_HOP_LIMIT_SET_AT } from '../../functions/domain/tags.ts';
import { days } from '../../local/local-aws.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';
import { sweep, useMoto } from '../support/moto.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';

describe('maxChangesPerAccountRegion', () => {
  it('makes at most that many changes a run, enforcement before hop limits, and defers the rest until a later run', async () => {
    const local = aws();
    const [member = ''] = await local.createOrganization(['rollout']);
    const clean = await local.runInstances(member, REGION, { count: 3 });
    const [drift = ''] = await local.runInstances(member, REGION, { httpTokens: 'required', hopLimit: 1, tags: { 'eks:cluster-name': 'prod' } });
    await local.putNoTokenCalls(member, REGION, Object.fromEntries(clean.map((id) => [id, days(14)])));
    const policy = testPolicy({ maxChangesPerAccountRegion: 2, scope: { accounts: [member], regions: [REGION] } });
    const enforcedFirst = [...clean].sort().slice(0, 2);

    const first = await sweep(policy, { apply: true });

    expect(first.report.summary).toMatchObject({ changed: 2, errors: 0 });
    const changed = first.report.instances.filter((i) => i.changed).map((i) => i.instanceId);
    expect(changed.sort()).toEqual(enforcedFirst);
    const deferred = first.report.instances.filter((i) => !i.changed && (i.verdict === 'enforce' || i.verdict === 'fix-hop-limit'));
    expect(deferred.map((i) => i.instanceId).sort()).toEqual([...clean.filter((id) => !enforcedFirst.includes(id)), drift].sort());
    for (const d of deferred) {
      expect(d.reason).toMatch(/; deferred to the next run: the policy allows 2 changes per account-region per run \(maxChangesPerAccountRegion\)$/);
      const now = await readInstance(local, member, REGION, d.instanceId);
      expect(now.tags[TAG_ENFORCED_AT], d.instanceId).toBeUndefined();
      expect(now.tags[TAG_HOP_LIMIT_SET_AT], d.instanceId).toBeUndefined();
    }
    expect(first.lines.filter((l) => l.message === 'change deferred')).toHaveLength(2);

    const second = await sweep(policy, { apply: true });
    const third = await sweep(policy, { apply: true });

    expect(second.report.summary.changed).toBe(2);
    expect(third.report.summary.changed).toBe(0);
    expect(await readInstance(local, member, REGION, drift)).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
    for (const id of clean) expect(await readInstance(local, member, REGION, id)).toMatchObject({ httpTokens: 'required', hopLimit: 1 });
  });

  it('stops modifying at the deadline when the modifies run slower than EC2\'s bucket promised', async () => {
    const local = aws();
    const [member = ''] = await local.createOrganization(['slow']);
    const clean = await local.runInstances(member, REGION, { count: 5 });
    await local.putNoTokenCalls(member, REGION, Object.fromEntries(clean.map((id) => [id, days(14)])));
    const policy = testPolicy({ scope: { accounts: [member], regions: [REGION] } });
    // Every modify takes 10 s of the run's (virtual) time: slower than the estimate assumed.
    let t = 0;
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const slowModifies = (client: AnyClient) =>
      (client.middlewareStack as MiddlewareStack<object, object>).add(
        (next, context) => async (args) => {
          if (context.commandName === 'ModifyInstanceMetadataOptionsCommand') t += 10_000;
          return next(args);
        },
        { step: 'initialize', name: 'slowModifies' },
      );

    const { report, lines } = await sweep(policy, { apply: true, clock, deadline: 25_000, modifyConcurrency: 1, customizeClient: slowModifies });

    // Sent at 0, 10 and 20 s; at 30 s the deadline (25 s) has passed.
    expect(report.summary).toMatchObject({ changed: 3, errors: 0 });
    const late = report.instances.filter((i) => !i.changed);
    expect(late.map((i) => i.instanceId).sort()).toEqual([...clean].sort().slice(3));
    for (const i of late) {
      expect(i).toMatchObject({ verdict: 'enforce', reason: expect.stringMatching(/deferred to the next run: this run ran out of time before its turn/) });
      // Tagged with the intent (the tags went on first), not changed: the next run redoes it.
      expect(await readInstance(local, member, REGION, i.instanceId)).toMatchObject({ httpTokens: 'optional', tags: { [TAG_ENFORCED_AT]: expect.any(String) } });
    }
    expect(lines.filter((l) => l.message === 'change deferred')).toHaveLength(2);

    const next = await sweep(policy, { apply: true });

    expect(next.report.summary.changed).toBe(2);
  });

  it('refuses a cap below 1, naming the field', async () => {
    await expect(sweep(testPolicy({ maxChangesPerAccountRegion: 0 }))).rejects.toThrow(/maxChangesPerAccountRegion: must be at least 1/);
  });
});

// An event is an input to the same pipeline as the sweep, so it obeys the same blast-radius
// limit: a launch of many instances changes at most maxChangesPerAccountRegion of them, and
// leaves the rest to the sweep, saying so (issue 12, finding 12).
import { describe, expect, it } from 'vitest';
import { composeWorld } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { remediateEvent } from '../../functions/events/remediate-event.ts';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { runInstancesEvent } from '../support/events.ts';
import { captureLog, useMoto } from '../support/moto.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';

describe('a launch event larger than the change budget', () => {
  it('changes maxChangesPerAccountRegion instances and defers the rest to the sweep, saying so', async () => {
    const local = aws();
    await local.createOrganization([]);
    const launched = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 12 });
    const policy = parsePolicy(testPolicy({ maxChangesPerAccountRegion: 5 }));
    const { log } = captureLog();
    const world = composeWorld({ policy, env: readEnvironment(process.env) });

    const { report } = await remediateEvent(world, policy, runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, launched), { log, verify: { attempts: 5, delayMs: 20 } });

    const changed = report.instances.filter((i) => i.changed);
    const deferred = report.instances.filter((i) => !i.changed);
    expect(changed).toHaveLength(5);
    expect(deferred).toHaveLength(7);
    for (const i of deferred) expect(i).toMatchObject({ verdict: 'enforce', reason: expect.stringMatching(/deferred to the scheduled sweep: the policy allows 5 changes/) });
    expect(report.summary).toMatchObject({ changed: 5, toChange: 7, errors: 0 });
    const required = await Promise.all(launched.map(async (id) => (await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).httpTokens === 'required'));
    expect(required.filter(Boolean)).toHaveLength(5);
  });
});

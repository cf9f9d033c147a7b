// Which role the central functions assume in a member account: planning reads regions through the
// read-only plan role (infra/member-role.yml, PlanRole); sweeping goes through the member role.
import { describe, expect, it } from 'vitest';
import { composeWorld } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { planSweep } from '../../functions/sweep/plan.ts';
import { captureLog, useMoto } from '../support/moto.ts';
import { REGIONS, seedOrganization, testPolicy } from '../support/scenario.ts';
import { recordCalls } from '../support/sdk-middleware.ts';

const { aws } = useMoto();

/** Plans the organization, then lists one member account-region's instances, and returns the roles assumed. */
const assumedRoles = async (planRoleName: string | undefined) => {
  const { members } = await seedOrganization(aws(), ['alpha']);
  const [member = ''] = members;
  const policy = parsePolicy(testPolicy());
  const { calls, customizeClient } = recordCalls();
  const world = composeWorld({ policy, env: readEnvironment(process.env), customizeClient, planRoleName });

  const plan = await planSweep(world, policy, captureLog().log);
  await world.shard({ accountId: member, region: 'us-east-1' }).ec2.listInstances();

  expect(plan.shards.filter((s) => s.accountId === member).map((s) => s.region).sort()).toEqual([...REGIONS].sort());
  return { member, roles: calls.filter((c) => c.operation === 'AssumeRole').map((c) => c.input.RoleArn) };
};

describe('roles assumed in member accounts', () => {
  it('plans through the read-only plan role when the deployment names one, and sweeps through the member role', async () => {
    const { member, roles } = await assumedRoles('ImdsRemediatorPlanRole');

    expect(roles).toEqual([`arn:aws:iam::${member}:role/ImdsRemediatorPlanRole`, `arn:aws:iam::${member}:role/ImdsRemediatorMemberRole`]);
  });

  it('uses the member role for both when no plan role is named (the CLI), assuming it once per account', async () => {
    const { member, roles } = await assumedRoles(undefined);

    expect(roles).toEqual([`arn:aws:iam::${member}:role/ImdsRemediatorMemberRole`]);
  });
});

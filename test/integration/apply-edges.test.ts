// What EC2 answers that moto does not: a stopped instance whose options stay `pending` until
// it starts, and an organization's declarative policy that refuses the change. The real SDK
// against moto, with those answers given by SDK middleware.
import { StopInstancesCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import type { AnyClient } from '../../functions/app/compose.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { answer, countCalls, rewriteOutput } from '../support/middleware.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';
import { awsError } from '../support/sdk-middleware.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
const policy = testPolicy({ scope: { regions: [REGION] } });
const all = (...hooks: Array<(client: AnyClient) => void>) => (client: AnyClient) => {
  for (const hook of hooks) hook(client);
};

/** One instance with 14 clean days: the sweep wants to enforce it. */
const cleanInstance = async () => {
  const local = aws();
  await local.createOrganization([]);
  const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, {});
  await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [id]: days(14, 0) });
  return { local, id };
};

describe('a stopped instance (issue 12, finding 10)', () => {
  it('is changed once EC2 accepts the change, though its options show pending until it starts', async () => {
    const { local, id } = await cleanInstance();
    await (await local.ec2(MANAGEMENT_ACCOUNT, REGION)).send(new StopInstancesCommand({ InstanceIds: [id] }));
    // AWS, unlike moto, shows a stopped instance's new options as pending until its next start.
    const pendingWhileStopped = rewriteOutput('DescribeInstances', (output) => {
      for (const r of (output.Reservations ?? []) as Array<{ Instances?: Array<{ MetadataOptions?: { State?: string } }> }>) {
        for (const i of r.Instances ?? []) if (i.MetadataOptions) i.MetadataOptions.State = 'pending';
      }
    });

    const { report } = await sweep(policy, { apply: true, verify: { attempts: 3, delayMs: 10 }, customizeClient: pendingWhileStopped });

    expect(report.instances).toEqual([
      expect.objectContaining({ instanceId: id, verdict: 'enforce', changed: true, reason: expect.stringMatching(/stopped: EC2 applies the change when it next starts/) }),
    ]);
    expect(report.summary.errors).toBe(0);
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'required' });
  });
});

describe('an organization whose EC2 declarative policy governs IMDS (issue 12, finding 11)', () => {
  const refuse = answer('ModifyInstanceMetadataOptions', () => {
    throw awsError('UnauthorizedOperation', 'The instance metadata options are managed by a declarative policy');
  });
  const governedBy = (managedBy: string) =>
    answer('GetInstanceMetadataDefaults', () => ({ AccountLevel: { ManagedBy: managedBy, ManagedExceptionMessage: 'Managed by your organization' } }));

  it('reports a refused change as managed by that policy, not as an error, every run', async () => {
    const { local, id } = await cleanInstance();
    const counter = countCalls();

    for (let run = 0; run < 2; run++) {
      const { report } = await sweep(policy, { apply: true, verify: { attempts: 2, delayMs: 10 }, customizeClient: all(counter.customizeClient, refuse, governedBy('declarative-policy')) });

      expect(report.instances).toEqual([
        expect.objectContaining({ instanceId: id, verdict: 'exempt', changed: false, reason: expect.stringMatching(/managed by the organization's EC2 declarative policy.*Managed by your organization/) }),
      ]);
      expect(report.summary).toMatchObject({ errors: 0, toChange: 0 });
    }
    // Asked only because a change was refused: once per run.
    expect(counter.of('GetInstanceMetadataDefaults')).toHaveLength(2);
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, id)).toMatchObject({ httpTokens: 'optional' });
  });

  it('still reports a refused change as an error when the account itself governs its settings', async () => {
    const { id } = await cleanInstance();

    const { report } = await sweep(policy, { apply: true, verify: { attempts: 2, delayMs: 10 }, customizeClient: all(refuse, governedBy('account')) });

    expect(report.instances).toEqual([expect.objectContaining({ instanceId: id, verdict: 'error', reason: expect.stringMatching(/UnauthorizedOperation/) })]);
    expect(report.summary.errors).toBe(1);
  });

  it('asks nobody who governs the settings when every change goes through', async () => {
    await cleanInstance();
    const counter = countCalls();

    await sweep(policy, { apply: true, verify: { attempts: 3, delayMs: 10 }, customizeClient: counter.customizeClient });

    expect(counter.of('GetInstanceMetadataDefaults')).toEqual([]);
  });
});

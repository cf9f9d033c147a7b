// Events that must not be acted on (issue 13, finding 1): an envelope of one account whose
// detail names another, a detail of another region, an account outside the organization.
// Through the deployed on-instance-event handler and the CLI's event command, with every AWS
// call recorded by a loopback proxy in front of moto.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { composeWorld } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { ActiveAccounts, MEMBERS_TTL_MS } from '../../functions/events/membership.ts';
import { remediateEvent } from '../../functions/events/remediate-event.ts';
import { UntrustedEventError } from '../../functions/events/instance-event.ts';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { motoEnvironment } from '../../local/moto-server.ts';
import { runInstancesEvent } from '../support/events.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { captureLog, endpoint, useMoto } from '../support/moto.ts';
import { recordCalls } from '../support/sdk-middleware.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';
import { prepareDeployment, useSweepFunctions } from '../support/sweep-functions.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
const BUCKET = 'imds-remediator-test-untrusted';
/** An account that exists (moto serves any account) but is not in the organization. */
const OUTSIDER = '999988887777';

// Every AWS call of the handler and the CLI goes through this proxy, which records it.
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(endpoint());
  process.env.AWS_ENDPOINT_URL = proxy.endpoint;
});
afterAll(async () => {
  process.env.AWS_ENDPOINT_URL = endpoint();
  await proxy.close();
});
const handlers = useSweepFunctions('apply', BUCKET);

/** Two member accounts with an instance each that a launch event would enforce, and one outside the organization. */
const seed = async () => {
  const local = aws();
  const [alpha = '', beta = ''] = await local.createOrganization(['alpha', 'beta']);
  await prepareDeployment(BUCKET, testPolicy());
  const [inAlpha = ''] = await local.runInstances(alpha, REGION, {});
  const [inBeta = ''] = await local.runInstances(beta, REGION, {});
  const [outside = ''] = await local.runInstances(OUTSIDER, REGION, {});
  proxy.clear();
  return { local, alpha, beta, inAlpha, inBeta, outside };
};

/** What reached a member account or EC2 since the seeding: nothing, for an event that is rejected. */
const reachedAccounts = () => proxy.calls.filter((c) => c.operation === 'AssumeRole' || c.service === 'ec2').map((c) => `${c.service} ${c.operation}`);

const optionsOf = async (local: ReturnType<typeof aws>, instances: Array<[string, string]>) =>
  Promise.all(instances.map(async ([account, id]) => (await readInstance(local, account, REGION, id)).httpTokens));

describe('on-instance-event rejects an event it cannot trust, and touches no account', () => {
  it('rejects an envelope from account A whose detail names account B', async () => {
    const { local, alpha, beta, inAlpha, inBeta } = await seed();
    const event = { ...runInstancesEvent(beta, REGION, [inBeta]), account: alpha };

    const result = await handlers.event(event);

    // The caller is a session of B too, which cannot act in A: both are named.
    expect(result).toEqual({
      status: 'rejected',
      problems: [
        `detail.recipientAccountId: ${beta} is not the account the event came from (account ${alpha})`,
        `detail.userIdentity.arn: a caller of account ${beta} cannot launch or change an instance of account ${alpha}`,
      ],
    });
    expect(reachedAccounts()).toEqual([]);
    expect(await optionsOf(local, [[alpha, inAlpha], [beta, inBeta]])).toEqual(['optional', 'optional']);
  });

  it('rejects an envelope from one region whose detail names another', async () => {
    const { local, beta, inBeta } = await seed();
    const event = { ...runInstancesEvent(beta, REGION, [inBeta]), region: 'eu-west-1' };

    const result = await handlers.event(event);

    expect(result).toEqual({ status: 'rejected', problems: [`detail.awsRegion: ${REGION} is not the region the event came from (region eu-west-1)`] });
    expect(reachedAccounts()).toEqual([]);
    expect(await optionsOf(local, [[beta, inBeta]])).toEqual(['optional']);
  });

  it('rejects an account outside the organization even when the policy scope is empty, without assuming a role there', async () => {
    const { local, outside } = await seed();

    const result = await handlers.event(runInstancesEvent(OUTSIDER, REGION, [outside]));

    expect(result).toEqual({ status: 'rejected', problems: [`account: ${OUTSIDER} is not an ACTIVE account of the organization`] });
    expect(reachedAccounts()).toEqual([]);
    expect(await optionsOf(local, [[OUTSIDER, outside]])).toEqual(['optional']);
  });
});

describe('imds-remediator event rejects an event it cannot trust', () => {
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/imds-remediator.js', ...args],
        { env: { ...process.env, ...motoEnvironment(endpoint()), AWS_ENDPOINT_URL: proxy.endpoint, SLACK_WEBHOOK_URL: '' } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  const files = async (event: object) => {
    const dir = await mkdtemp(join(tmpdir(), 'imds-untrusted-'));
    await writeFile(join(dir, 'event.json'), JSON.stringify(event));
    await writeFile(join(dir, 'policy.yaml'), stringify(testPolicy()));
    return { event: join(dir, 'event.json'), policy: join(dir, 'policy.yaml') };
  };

  it.each([
    ['an envelope from account A whose detail names account B', (s: Awaited<ReturnType<typeof seed>>) => ({ ...runInstancesEvent(s.beta, REGION, [s.inBeta]), account: s.alpha }), /untrusted event: detail\.recipientAccountId: \d{12} is not the account the event came from/],
    ['a detail of another region than the envelope', (s: Awaited<ReturnType<typeof seed>>) => ({ ...runInstancesEvent(s.beta, REGION, [s.inBeta]), region: 'eu-west-1' }), /untrusted event: detail\.awsRegion: us-east-1 is not the region the event came from/],
    ['an account outside the organization (scope empty)', (s: Awaited<ReturnType<typeof seed>>) => runInstancesEvent(OUTSIDER, REGION, [s.outside]), /untrusted event: account: 999988887777 is not an ACTIVE account of the organization/],
  ])('exits 2 on %s, changing nothing and assuming no role', async (_, eventOf, message) => {
    const seeded = await seed();
    const { event, policy } = await files(eventOf(seeded));

    const { code, stdout, stderr } = await cli(['event', event, '--policy', policy]);

    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(message);
    expect(reachedAccounts()).toEqual([]);
    const { local, alpha, beta, inAlpha, inBeta, outside } = seeded;
    expect(await optionsOf(local, [[alpha, inAlpha], [beta, inBeta], [OUTSIDER, outside]])).toEqual(['optional', 'optional', 'optional']);
  });
});

describe("the organization's accounts, as the event path reads them", () => {
  it('are listed once per run and then kept, and an unknown account does not list them again at once', async () => {
    const local = aws();
    await local.createOrganization(['alpha']);
    const [id = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 1 });
    const [outside = ''] = await local.runInstances(OUTSIDER, REGION, {});
    const policy = parsePolicy(testPolicy({ mode: 'report' }));
    const { calls, customizeClient } = recordCalls();
    const world = composeWorld({ policy, env: readEnvironment({ ...process.env, AWS_ENDPOINT_URL: endpoint() }), customizeClient });
    const { log } = captureLog();
    const handle = (event: unknown) => remediateEvent(world, policy, event, { log });

    await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [id]));
    await handle(runInstancesEvent(MANAGEMENT_ACCOUNT, REGION, [id]));
    await expect(handle(runInstancesEvent(OUTSIDER, REGION, [outside]))).rejects.toBeInstanceOf(UntrustedEventError);
    await expect(handle(runInstancesEvent(OUTSIDER, REGION, [outside]))).rejects.toBeInstanceOf(UntrustedEventError);

    expect(calls.filter((c) => c.operation === 'ListAccounts')).toHaveLength(1);
    expect(calls.filter((c) => c.operation === 'AssumeRole')).toEqual([]);
  });

  it('are read again once the kept list is older than its time to live', async () => {
    const local = aws();
    const [alpha = ''] = await local.createOrganization(['alpha']);
    const policy = parsePolicy(testPolicy());
    const { calls, customizeClient } = recordCalls();
    const world = composeWorld({ policy, env: readEnvironment({ ...process.env, AWS_ENDPOINT_URL: endpoint() }), customizeClient });
    let now = 0;
    const members = new ActiveAccounts(world.organization, () => now);

    const listings = () => calls.filter((c) => c.operation === 'ListAccounts').length;

    expect(await members.has(alpha)).toBe(true);
    now += MEMBERS_TTL_MS - 1;
    expect(await members.has(alpha)).toBe(true);
    expect(listings()).toBe(1);
    now += 1;
    expect(await members.has(alpha)).toBe(true);
    expect(listings()).toBe(2);
  });
});

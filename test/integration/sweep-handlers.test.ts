// The three sweep functions in-process, chained as the state machine chains them: plan →
// one sweep-shard per item of the Map (items and results in the sweep bucket, as the
// definition's ItemReader and ResultWriter move them) → report, payloads through JSON.
import { readFileSync } from 'node:fs';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../functions/domain/errors.ts';
import { VERDICTS } from '../../functions/domain/verdicts.ts';
import type { SweepReport } from '../../functions/report/aggregate.ts';
import { readInstance, REGIONS, seedOrganization, testPolicy } from '../support/scenario.ts';
import { readFindings } from '../../local/findings.ts';
import { fixture, runInstancesEvent } from '../support/events.ts';
import { useMoto } from '../support/moto.ts';
import { runDistributedMap, taskPayload, type MapRunOptions } from '../support/distributed-map.ts';
import { POLICY_PARAMETER, prepareDeployment, useSweepFunctions } from '../support/sweep-functions.ts';

const { aws } = useMoto();
const BUCKET = 'imds-remediator-test-sweep';
// A deployment in apply mode reading its policy from SSM.
const handlers = useSweepFunctions('apply', BUCKET);

interface MapRunManifest {
  MapRunArn: string;
  ResultFiles: Record<string, Array<{ Key: string }>>;
}

/** What crossing the Step Functions state does to a payload. */
const throughState = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

interface PlanOutput {
  apply: boolean;
  plan: unknown;
  shardsKey: string;
}

const runStateMachine = async (input: unknown, map: Partial<MapRunOptions> = {}) => {
  const planned = throughState((await handlers.plan(input)) as PlanOutput);
  const results = await runDistributedMap({ bucket: BUCKET, state: planned, runItem: handlers.shard, ...map });
  const report = throughState((await handlers.report({ apply: planned.apply, plan: planned.plan, results })) as SweepReport);
  return { planned, report };
};

const readShards = async (key: string) => {
  const out = await new S3Client({}).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return JSON.parse((await out.Body?.transformToString()) ?? '[]') as Array<{ accountId: string; region: string }>;
};

const prepare = () => prepareDeployment(BUCKET, testPolicy());

const seed = async () => {
  const local = aws();
  const world = await seedOrganization(local);
  await prepare();
  return { local, ...world };
};

describe('sweep functions chained like the state machine', () => {
  it('plans every account-region, enforces the safe instances and reports the totals of every verdict', async () => {
    const { local, accounts, seeded } = await seed();

    const { report } = await runStateMachine({ source: 'schedule' });

    const shards = accounts.length * REGIONS.length;
    expect(report.mode).toBe('apply');
    expect(report.errors).toEqual([]);
    expect(report.summary).toEqual({
      byVerdict: {
        ...Object.fromEntries(VERDICTS.map((v) => [v, 0])),
        compliant: 2 * shards,
        'fix-hop-limit': shards,
        enforce: 2 * shards,
        'blocked-v1-in-use': shards,
        'insufficient-evidence': shards,
        exempt: shards,
      },
      instances: 8 * shards,
      changed: 3 * shards,
      toChange: 0,
      errors: 0,
      findingsFailed: 0,
      accounts: accounts.length,
      shards,
      // The deployed report counts launch templates too (none are seeded here).
      templates: {
        byVerdict: { compliant: 0, fix: 0, blocked: 0, 'blocked-v1-in-use': 0, 'insufficient-evidence': 0, exempt: 0, error: 0 },
        templates: 0,
        changed: 0,
        allowingV1: 0,
        pinnedGroups: 0,
        launchConfigurations: 0,
      },
    });
    // The deployed report carries Security Hub's outcome, as the CLI's does.
    expect(report.findings).toEqual({ enabled: true, imported: 8 * shards, unchanged: 0, failed: [] });
    expect(report.notifications?.slack).toMatchObject({ status: 'sent' });
    const summary = handlers.slack.received.at(-1)?.body as { text: string; blocks: Array<{ text?: { text: string } }> };
    expect(summary.text).toBe(
      `IMDSv2 sweep (apply): ${8 * shards} instances in ${accounts.length} accounts, ${3 * shards} changed, 0 still to change, ` +
        // Every seeded account keeps an IMDSv1 user, an instance without evidence and an exempt one.
        `${shards} blocked by IMDSv1 use, 0 errors, 0 of ${accounts.length} accounts ready for prevention`,
    );
    // The blocked instances by name, and the accounts still non-compliant, as the CLI's summary has them.
    const sections = summary.blocks.map((b) => b.text?.text ?? '');
    const blocked = sections.find((t) => t.startsWith(`*Blocked: IMDSv1 still in use (${shards})*`)) ?? '';
    for (const s of seeded.filter((x) => x.kind === 'v1-user')) expect(blocked).toContain(`• \`${s.instanceId}\` ${s.accountId} ${s.region}: 42 IMDSv1 calls`);
    expect(sections.find((t) => t.startsWith('*Top accounts by non-compliant instances*'))?.split('\n')).toHaveLength(1 + accounts.length);
    for (const s of seeded.filter((x) => x.kind === 'plain' || x.kind === 'v1-user')) {
      const expected = s.kind === 'plain' ? 'required' : 'optional';
      expect(await readInstance(local, s.accountId, s.region, s.instanceId)).toMatchObject({ httpTokens: expected });
    }
  });

  it('changes nothing when the execution input asks for a plan, even in an apply deployment', async () => {
    const { local, seeded } = await seed();

    const { report } = await runStateMachine({ mode: 'plan' });

    expect(report.mode).toBe('plan');
    expect(report.summary.changed).toBe(0);
    expect(report.summary.byVerdict.enforce).toBeGreaterThan(0);
    for (const s of seeded.filter((x) => x.kind === 'plain')) {
      expect(await readInstance(local, s.accountId, s.region, s.instanceId)).toMatchObject({ httpTokens: 'optional' });
    }
  });

  it('names the account-region of a shard whose execution failed, and of each one the Map Run never started', async () => {
    const { accounts } = await seed();
    const [, member = ''] = accounts;
    const crashing = async (input: unknown) => {
      const { shard } = input as { shard: { accountId: string; region: string } };
      if (shard.accountId === member && shard.region === 'eu-west-1') throw new TypeError('Cannot read properties of undefined');
      return handlers.shard(input);
    };

    const { planned, report } = await runStateMachine({ mode: 'plan' }, { runItem: crashing, stopAt: 5 });

    const items = await readShards(planned.shardsKey);
    const notStarted = items.slice(5);
    expect(report.summary.shards).toBe(items.length);
    expect(report.summary.errors).toBe(1 + notStarted.length);
    expect(report.errors).toEqual(
      expect.arrayContaining([
        { accountId: member, region: 'eu-west-1', message: 'shard execution failed: TypeError: Cannot read properties of undefined' },
        ...notStarted.map((s) => ({ ...s, message: 'not swept: the Map Run ended before this shard started' })),
      ]),
    );
    const swept = Object.values(report.summary.byVerdict).reduce((a, b) => a + b, 0);
    expect(swept).toBe(8 * (5 - 1)); // eight instances in each shard that ran and answered
  });

  it('reads a Map Run in the form Step Functions writes it, naming each shard that failed or timed out', async () => {
    await prepare();
    const s3 = new S3Client({});
    const manifest = JSON.parse(readFileSync('test/fixtures/map-run/manifest.json', 'utf8')) as MapRunManifest;
    for (const [status, files] of Object.entries(manifest.ResultFiles)) {
      for (const { Key } of files) {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: readFileSync(`test/fixtures/map-run/${status}_0.json`) }));
      }
    }
    const manifestKey = 'results/0b8ac1a4-1f35-3a7b-a2d8-4e2b5ef7c911/manifest.json';
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: manifestKey, Body: JSON.stringify(manifest) }));
    const results = { MapRunArn: manifest.MapRunArn, ResultWriterDetails: { Bucket: BUCKET, Key: manifestKey } };

    const report = (await handlers.report({ apply: true, plan: { accounts: 5, shards: 5, errors: [], errorCount: 0 }, results })) as SweepReport;

    expect(report.summary).toMatchObject({ changed: 3, errors: 1 + 3, shards: 5, byVerdict: { compliant: 40, enforce: 3, 'blocked-v1-in-use': 2, exempt: 7 } });
    expect(report.errors).toEqual([
      { accountId: '333333333333', region: 'eu-west-1', message: expect.stringMatching(/^shard execution failed: Lambda\.Unknown: Runtime\.ExitError: RequestId: .* signal: killed$/) },
      { accountId: '444444444444', region: 'us-gov-west-1', message: 'shard execution failed: InputError: invalid sweep shard event: shard.region: Invalid string: must match pattern' },
      { accountId: '555555555555', region: 'ap-southeast-2', message: 'shard execution timed out: States.Timeout' },
      { accountId: '222222222222', region: 'us-east-1', message: expect.stringContaining('not subscribed to AWS Security Hub') },
    ]);
  });

  it('tells Slack when the Map itself failed, counting every account-region as unaccounted for', async () => {
    await prepare();
    // What the Map state's Catch hands on when more shards failed than tolerated.
    const failure = { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'The specified tolerated failure threshold was exceeded' };
    const plan = { accounts: 3, shards: 6, errors: [], errorCount: 0 };

    const report = (await handlers.report(taskPayload('ReportMapFailure', { apply: true, plan, failure }))) as SweepReport;

    expect(report.summary).toMatchObject({ errors: 6, shards: 6, changed: 0 });
    expect(report.errors.map((e) => e.message)).toEqual([
      "the sweep's Distributed Map failed: States.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded",
      '5 shard(s) returned no result',
    ]);
    const summary = handlers.slack.received.at(-1)?.body as { text: string };
    expect(summary.text).toMatch(/^IMDSv2 sweep \(apply, FAILED\): .*6 errors$/);
  });

  it('counts no account ready when its shards never reported, and leaves readiness out when the plan’s organization cannot be read', async () => {
    await prepare();
    const failure = { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'too many shards failed' };
    const key = 'shards/2026-11-30/plan.organization.json';
    const organization = {
      tree: {
        units: [{ id: 'r-abcd', name: 'Root', parentId: null }],
        accounts: [{ id: '111111111111', name: 'a', parentId: 'r-abcd' }, { id: '222222222222', name: 'b', parentId: 'r-abcd' }],
      },
      plannedShards: { '111111111111': 1, '222222222222': 1 },
    };
    await new S3Client({}).send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify(organization) }));
    const plan = { accounts: 2, shards: 2, errors: [], errorCount: 0 };

    const withTree = (await handlers.report(taskPayload('ReportMapFailure', { apply: true, plan: { ...plan, organizationKey: key }, failure }))) as SweepReport;
    const missing = (await handlers.report(
      taskPayload('ReportMapFailure', { apply: true, plan: { ...plan, organizationKey: 'shards/2026-11-30/gone.organization.json' }, failure }),
    )) as SweepReport;

    expect(withTree.readiness).toMatchObject({ accounts: 2, readyAccounts: 0, unitCount: 1, units: [{ id: 'r-abcd', accounts: 2, readyAccounts: 0, ready: false }] });
    expect(missing.readiness).toBeUndefined();
    expect(missing.notifications?.slack).toMatchObject({ status: 'sent' });
    await expect(handlers.report({ apply: true, plan: { ...plan, organizationKey: 'results/x.organization.json' }, failure })).rejects.toThrow(
      /plan\.organizationKey: must be a key below shards\//,
    );
  });

  it('tells Slack the sweep FAILED and why when the Plan step fails, and reports no plan', async () => {
    // A deployment whose sweep bucket is gone: the plan cannot write its shards, so it fails.
    await seedOrganization(aws());
    await new SSMClient({}).send(new PutParameterCommand({ Name: POLICY_PARAMETER, Type: 'String', Value: JSON.stringify(testPolicy()) }));
    const input = { source: 'schedule' };
    const error = await handlers.plan(input).then(
      () => new Error('the plan was expected to fail'),
      (e: unknown) => e as Error,
    );
    // What Plan's Catch puts at $.failure: lambda:invoke's error type, and the function's error payload as Cause.
    const failure = { Error: error.name, Cause: JSON.stringify({ errorType: error.name, errorMessage: error.message, trace: [] }) };

    const report = (await handlers.report(taskPayload('ReportPlanFailure', { ...input, failure }))) as SweepReport;

    expect(error.name).toBe('NoSuchBucket');
    expect(report.summary).toMatchObject({ accounts: 0, shards: 0, changed: 0, errors: 1 });
    expect(report.errors).toEqual([{ accountId: 'unknown', region: null, message: `the Plan step failed: ${error.name}: ${error.message}` }]);
    expect(report.notifications?.slack).toMatchObject({ status: 'sent' });
    const message = handlers.slack.received.at(-1)?.body as { text: string; blocks: Array<{ text?: { text: string } }> };
    expect(message.text).toBe(`IMDSv2 sweep FAILED: the Plan step failed: ${error.name}: ${error.message}`);
    expect(message.blocks.map((b) => b.text?.text)).toContain(`FAILED: the Plan step failed: ${error.name}: ${error.message}`);
  });

  it('tells Slack the sweep FAILED when the Report step itself fails, naming the planned scope', async () => {
    await prepare();
    const plan = { accounts: 3, shards: 6, errors: [], errorCount: 0 };
    const failure = { Error: 'Lambda.Unknown', Cause: 'The cause could not be determined because Lambda did not return an error type.' };

    const report = (await handlers.report(taskPayload('ReportReportFailure', { apply: true, plan, failure }))) as SweepReport;

    expect(report).toMatchObject({ mode: 'apply', summary: { shards: 6, errors: 6 } });
    const message = handlers.slack.received.at(-1)?.body as { text: string };
    expect(message.text).toBe(
      'IMDSv2 sweep FAILED: the Report step failed: Lambda.Unknown: The cause could not be determined because Lambda did not return an error type. ' +
        '(3 accounts, 6 account-regions planned; their results were not read)',
    );
  });

  it('refuses a failure report without its plan unless the Plan step failed, naming the field', async () => {
    const failure = { Error: 'States.Timeout' };

    await expect(handlers.report({ failedStep: 'Shards', failure })).rejects.toThrow(/plan: apply and plan are required unless the Plan step failed/);
    await expect(handlers.report({ failedStep: 'Plan' })).rejects.toThrow(/results: exactly one/);
  });

  it('refuses a report with both results and a failure, or neither, naming the field', async () => {
    const results = { MapRunArn: 'arn:aws:states:us-east-1:123456789012:mapRun:x/Shards:1', ResultWriterDetails: { Bucket: BUCKET, Key: 'results/1/manifest.json' } };
    const plan = { accounts: 0, shards: 0, errors: [], errorCount: 0 };

    await expect(handlers.report({ apply: false, plan })).rejects.toThrow(/results: exactly one of results .* and failure .* is required/);
    await expect(handlers.report({ apply: false, plan, results, failure: { Error: 'States.Timeout' } })).rejects.toThrow(/results: exactly one/);
  });

  it('refuses a report whose results are not in the sweep bucket, naming the field', async () => {
    await prepare();
    const results = { MapRunArn: 'arn:aws:states:us-east-1:123456789012:mapRun:x/Shards:1', ResultWriterDetails: { Bucket: 'elsewhere', Key: 'results/1/manifest.json' } };
    const plan = { accounts: 0, shards: 0, errors: [], errorCount: 0 };

    await expect(handlers.report({ apply: false, plan, results })).rejects.toThrow(/results\.ResultWriterDetails\.Bucket: elsewhere/);
    await expect(handlers.report({ apply: false, plan, results: [] })).rejects.toThrow(/results: /);
  });

  it('defers the changes a shard has no time left for, untagged, instead of running into its timeout', async () => {
    const { local, seeded } = await seed();
    const shard = { accountId: seeded[0]?.accountId ?? '', region: 'us-east-1' };
    // Less time left than the reserve for re-reads and findings: no change fits this run.
    const lambdaContext = { getRemainingTimeInMillis: () => 60_000 };

    const digest = (await handlers.shard({ shard, apply: true }, lambdaContext)) as { changed: number; toChange: number; errorCount: number };

    expect(digest).toMatchObject({ changed: 0, toChange: 3, errorCount: 0 });
    for (const s of seeded.filter((x) => x.accountId === shard.accountId && x.region === shard.region && x.kind === 'plain')) {
      const now = await readInstance(local, s.accountId, s.region, s.instanceId);
      expect(now).toMatchObject({ httpTokens: 'optional' });
      expect(Object.keys(now.tags).filter((k) => k.startsWith('imds-remediator:'))).toEqual([]);
    }
  });

  it('refuses a shard event without its shard, naming the field', async () => {
    await expect(handlers.shard({ apply: true })).rejects.toThrow(InputError);
    await expect(handlers.shard({ apply: true, shard: { accountId: '1', region: 'us-east-1' } })).rejects.toThrow(/shard\.accountId/);
  });
});

describe('on-instance-event function', () => {
  it('enforces a launched instance from its CloudTrail event, and records its finding', async () => {
    const { local } = await seed();
    const [id = ''] = await local.runInstances('123456789012', 'us-east-1', { tags: { workload: 'ecs' } });

    const result = await handlers.event(runInstancesEvent('123456789012', 'us-east-1', [id]));

    expect(result).toMatchObject({ status: 'handled', summary: { changed: 1, errors: 0 } });
    expect(await readInstance(local, '123456789012', 'us-east-1', id)).toMatchObject({ httpTokens: 'required', hopLimit: 2 });
    const finding = (await readFindings(local, '123456789012', 'us-east-1')).find((f) => f.Resources?.[0]?.Id?.endsWith(id));
    expect(finding?.Compliance?.Status).toBe('PASSED');
  });

  it('obeys a deadline from the Lambda context: what does not fit is left to the sweep, untouched', async () => {
    const { local } = await seed();
    const [id = ''] = await local.runInstances('123456789012', 'us-east-1', { tags: { workload: 'ecs' } });
    // A minute left is all the function keeps for the re-reads and findings: no time to change anything.
    const lambdaContext = { getRemainingTimeInMillis: () => 60_000 };

    const result = await handlers.event(runInstancesEvent('123456789012', 'us-east-1', [id]), lambdaContext);

    expect(result).toMatchObject({ status: 'handled', summary: { changed: 0, toChange: 1, errors: 0 } });
    const untouched = await readInstance(local, '123456789012', 'us-east-1', id);
    expect(untouched.httpTokens).toBe('optional');
    expect(untouched.tags['imds-remediator:enforced-at']).toBeUndefined();
  });

  it('rejects a malformed event without throwing, so that it is not retried forever', async () => {
    await seed();
    const result = await handlers.event({ ...fixture('run-instances'), account: 'not-an-account' });
    expect(result).toEqual({ status: 'rejected', problems: ['account: must be a 12-digit account id'] });
  });

  it('ignores a failed call, saying why', async () => {
    await seed();
    expect(await handlers.event(fixture('run-instances-failed'))).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/failed/) });
  });
});

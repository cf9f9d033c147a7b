import type { AwsSecurityFinding } from '@aws-sdk/client-securityhub';
import type { MiddlewareStack } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import type { AnyClient } from '../../functions/app/compose.ts';
import { findingId, GENERATOR_ID, type AsffFinding } from '../../functions/findings/asff.ts';
import { TEMPLATE_GENERATOR_ID } from '../../functions/findings/template-findings.ts';
import { readFindings } from '../../local/findings.ts';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { countCalls, rewriteInput, rewriteOutput } from '../support/middleware.ts';
import { awsError, intercept } from '../support/sdk-middleware.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { REGIONS, seedOrganization, testPolicy, type Kind, type Seeded } from '../support/scenario.ts';

const { aws } = useMoto();

const PLANNED: Record<Kind, string> = {
  plain: 'FAILED',
  container: 'FAILED',
  // IMDSv2 is required already: the hop limit is to fix, but IMDSv1 is not allowed.
  'eks-drift': 'PASSED',
  'v1-user': 'FAILED',
  // Unknown and exempt still allow IMDSv1.
  'no-data': 'FAILED',
  exempt: 'FAILED',
  'endpoint-off': 'PASSED',
  compliant: 'PASSED',
};
const APPLIED: Record<Kind, string> = { ...PLANNED, plain: 'PASSED', container: 'PASSED', 'eks-drift': 'PASSED' };

/** Every finding of every account-region, read with that account's own credentials. */
const allFindings = async (accounts: string[]) => {
  const found: Array<{ accountId: string; region: string; finding: AwsSecurityFinding }> = [];
  for (const accountId of accounts) {
    for (const region of REGIONS) {
      for (const finding of await readFindings(aws(), accountId, region)) found.push({ accountId, region, finding });
    }
  }
  return found;
};

const findingOf = (all: Awaited<ReturnType<typeof allFindings>>, s: Seeded) =>
  all.filter((f) => f.accountId === s.accountId && f.region === s.region && f.finding.Id === findingId(s, s.instanceId));

const imported = (calls: ReturnType<typeof countCalls>) =>
  calls.of('BatchImportFindings').flatMap((c) => c.input.Findings as AsffFinding[]);

describe('Security Hub findings', () => {
  it('imports one finding per instance into its own account and region, with the status its verdict gives', async () => {
    const { accounts, seeded } = await seedOrganization(aws());

    const { report } = await sweep(testPolicy(), { apply: false });

    const all = await allFindings(accounts);
    expect(all).toHaveLength(seeded.length);
    expect(report.findings).toEqual({ enabled: true, imported: seeded.length, unchanged: 0, failed: [] });
    for (const s of seeded) {
      const [only, ...more] = findingOf(all, s);
      expect(more, `${s.kind} has one finding`).toEqual([]);
      const f = only?.finding;
      expect(f?.Compliance?.Status, s.kind).toBe(PLANNED[s.kind]);
      expect(f).toMatchObject({
        SchemaVersion: '2018-10-08',
        AwsAccountId: s.accountId,
        ProductArn: `arn:aws:securityhub:${s.region}:${s.accountId}:product/${s.accountId}/default`,
        GeneratorId: GENERATOR_ID,
        Types: ['Software and Configuration Checks/AWS Security Best Practices'],
        RecordState: 'ACTIVE',
        Resources: [
          {
            Type: 'AwsEc2Instance',
            Id: `arn:aws:ec2:${s.region}:${s.accountId}:instance/${s.instanceId}`,
            Region: s.region,
            Details: { AwsEc2Instance: { MetadataOptions: { HttpTokens: expect.stringMatching(/^(optional|required)$/) } } },
          },
        ],
        Remediation: { Recommendation: { Text: expect.any(String) } },
        ProductFields: expect.objectContaining({ 'imds-remediator/Verdict': expect.any(String) }),
      });
    }
    const v1 = seeded.find((s) => s.kind === 'v1-user' && s.accountId !== MANAGEMENT_ACCOUNT);
    if (!v1) throw new Error('no v1 user seeded');
    const blocked = findingOf(all, v1)[0]?.finding;
    expect(blocked?.Severity?.Label).toBe('MEDIUM');
    expect(blocked?.Description).toMatch(/HttpTokens=optional, HttpEndpoint=enabled, hop limit 1; no instance profile\. 42 IMDSv1 calls \(MetadataNoToken\) over the last 14 days, 14 days observed/);
    expect(blocked?.ProductFields).toMatchObject({ 'imds-remediator/NoTokenCalls': '42', 'imds-remediator/ObservedDays': '14' });
    const exempt = seeded.find((s) => s.kind === 'exempt');
    if (!exempt) throw new Error('no exempt instance seeded');
    expect(findingOf(all, exempt)[0]?.finding.Title).toMatch(/exempt by policy/);
  });

  it('turns the enforced instances PASSED in the same run, with when it happened', async () => {
    const { accounts, seeded } = await seedOrganization(aws());
    await sweep(testPolicy(), { apply: false });

    const { report } = await sweep(testPolicy(), { apply: true });

    const all = await allFindings(accounts);
    expect(all).toHaveLength(seeded.length);
    for (const s of seeded) expect(findingOf(all, s)[0]?.finding.Compliance?.Status, s.kind).toBe(APPLIED[s.kind]);
    const plain = seeded.find((s) => s.kind === 'plain');
    if (!plain) throw new Error('no plain instance seeded');
    const fixed = findingOf(all, plain)[0]?.finding;
    expect(fixed?.ProductFields?.['imds-remediator/EnforcedAt']).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(fixed?.Resources?.[0]?.Details?.AwsEc2Instance?.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(fixed?.FindingProviderFields?.Severity?.Label).toBe('INFORMATIONAL');
    // Updated in place: the finding created by the plan keeps its CreatedAt.
    expect(fixed?.UpdatedAt).not.toBe(fixed?.CreatedAt);
    expect(report.findings?.failed).toEqual([]);
  });

  it('does not import unchanged PASSED findings again, and refreshes the FAILED ones', async () => {
    const { seeded } = await seedOrganization(aws());
    await sweep(testPolicy(), { apply: true });
    const counter = countCalls();

    const { report } = await sweep(testPolicy(), { apply: true, customizeClient: counter.customizeClient });

    const sent = imported(counter);
    const passed = seeded.filter((s) => APPLIED[s.kind] === 'PASSED');
    expect(sent.filter((f) => f.Compliance.Status === 'PASSED')).toEqual([]);
    expect(sent.filter((f) => f.Compliance.Status === 'FAILED').map((f) => f.Id).sort()).toEqual(
      seeded.filter((s) => APPLIED[s.kind] === 'FAILED').map((s) => findingId(s, s.instanceId)).sort(),
    );
    expect(report.findings).toMatchObject({ unchanged: passed.length, imported: seeded.length - passed.length, failed: [] });
    // Reading what is there costs pages, not instances: one GetFindings per account-region here,
    // and one for the launch templates' findings.
    const generator = (c: { input: Record<string, unknown> }) => (c.input.Filters as { GeneratorId: Array<{ Value: string }> }).GeneratorId[0]?.Value;
    expect(counter.of('GetFindings').filter((c) => generator(c) === GENERATOR_ID)).toHaveLength(report.summary.shards);
    expect(counter.of('GetFindings').filter((c) => generator(c) === TEMPLATE_GENERATOR_ID)).toHaveLength(report.summary.shards);
  });

  it("asks Security Hub only for the tool's ACTIVE findings of each account-region, and checks every answer itself", async () => {
    const { accounts, seeded } = await seedOrganization(aws());
    await sweep(testPolicy());
    const target = seeded.find((s) => s.accountId === MANAGEMENT_ACCOUNT && s.region === 'us-east-1' && s.kind === 'compliant');
    if (!target) throw new Error('no compliant instance seeded');
    const targetId = findingId(target, target.instanceId);
    const counter = countCalls();
    // A server that ignores the filters (moto ignores them all) answers with an archived finding too.
    const archived = rewriteOutput('GetFindings', (out) => {
      for (const f of (out.Findings ?? []) as AwsSecurityFinding[]) if (f.Id === targetId) f.RecordState = 'ARCHIVED';
    });

    await sweep(testPolicy(), { customizeClient: (client) => [counter.customizeClient, archived].forEach((add) => add(client)) });

    const asked = counter.of('GetFindings').map((c) => c.input.Filters as Record<string, Array<{ Value: string; Comparison: string }>>);
    expect(asked.length).toBeGreaterThan(0);
    for (const filters of asked) {
      expect(filters).toMatchObject({
        GeneratorId: [{ Value: expect.stringMatching(new RegExp(`^(${GENERATOR_ID}|${TEMPLATE_GENERATOR_ID})$`)), Comparison: 'EQUALS' }],
        RecordState: [{ Value: 'ACTIVE', Comparison: 'EQUALS' }],
        AwsAccountId: [{ Comparison: 'EQUALS' }],
        Region: [{ Comparison: 'EQUALS' }],
      });
    }
    // Each account-region asks for its own region's findings (the instances', then the launch
    // templates'): an aggregation region's others stay on the server.
    for (const generatorId of [GENERATOR_ID, TEMPLATE_GENERATOR_ID]) {
      const where = asked.filter((f) => f.GeneratorId?.[0]?.Value === generatorId).map((f) => `${f.AwsAccountId?.[0]?.Value}/${f.Region?.[0]?.Value}`);
      expect(where.sort(), generatorId).toEqual(accounts.flatMap((a) => REGIONS.map((r) => `${a}/${r}`)).sort());
    }
    // An archived finding is not the instance's current one: its state is imported as a new finding's.
    const resent = imported(counter).find((f) => f.Id === targetId);
    expect(resent).toMatchObject({ Types: [expect.any(String)], Severity: { Label: expect.any(String) }, RecordState: 'ACTIVE' });
  });

  it('archives the findings of instances terminated since an earlier sweep, even in an emptied account-region', async () => {
    const local = aws();
    const { seeded } = await seedOrganization(local);
    await sweep(testPolicy());
    const [member = ''] = [...new Set(seeded.map((s) => s.accountId))].slice(1);
    const one = seeded.find((s) => s.accountId === member && s.region === 'us-east-1' && s.kind === 'v1-user');
    const emptied = seeded.filter((s) => s.accountId === member && s.region === 'eu-west-1');
    if (!one) throw new Error('no v1-user seeded');
    await local.terminate(member, 'us-east-1', [one.instanceId]);
    await local.terminate(member, 'eu-west-1', emptied.map((s) => s.instanceId));
    const vanished = [one, ...emptied];

    const { report, lines } = await sweep(testPolicy());

    const all = await allFindings([member]);
    for (const s of vanished) {
      const [found] = findingOf(all, s);
      expect(found?.finding, s.instanceId).toMatchObject({ RecordState: 'ARCHIVED', Compliance: { Status: 'NOT_AVAILABLE' }, Title: `${s.instanceId} was terminated` });
      expect(found?.finding.ProductFields?.['imds-remediator/Verdict']).toBe('gone');
    }
    const others = all.filter((f) => !vanished.some((s) => f.finding.Id === findingId(s, s.instanceId)));
    expect(others.length).toBeGreaterThan(0);
    for (const f of others) expect(f.finding.RecordState, f.finding.Id).toBe('ACTIVE');
    expect(report.findings?.failed).toEqual([]);
    expect(lines.filter((l) => l.message === 'findings of vanished instances archived').map((l) => l.count).sort()).toEqual([1, emptied.length].sort());

    // Archived once: a later sweep imports none of them again.
    const counter = countCalls();
    await sweep(testPolicy(), { customizeClient: counter.customizeClient });
    const again = new Set(imported(counter).map((f) => f.Id));
    for (const s of vanished) expect(again.has(findingId(s, s.instanceId)), s.instanceId).toBe(false);
  });

  it('keeps every finding when EC2 answers an empty listing for an account-region whose instances still run', async () => {
    const local = aws();
    const { seeded } = await seedOrganization(local);
    await sweep(testPolicy());
    // The fault: every unfiltered DescribeInstances (the listing) answers no instance at all.
    const emptyListing = rewriteInput('DescribeInstances', (input) => {
      if (input.Filters === undefined) input.Filters = [{ Name: 'instance-id', Values: ['i-00000000000000000'] }];
    });

    const { report, lines } = await sweep(testPolicy(), { customizeClient: emptyListing });

    const accounts = [...new Set(seeded.map((s) => s.accountId))];
    const all = await allFindings(accounts);
    expect(all.length).toBe(seeded.length);
    for (const f of all) expect(f.finding.RecordState, f.finding.Id).toBe('ACTIVE');
    const v1Users = seeded.filter((s) => s.kind === 'v1-user');
    for (const s of v1Users) expect(findingOf(all, s)[0]?.finding.Compliance?.Status, s.instanceId).toBe('FAILED');
    expect(lines.filter((l) => l.message === 'findings of vanished instances archived')).toEqual([]);
    expect(lines.filter((l) => l.message === 'instances not listed but not confirmed gone: findings kept').length).toBe(report.summary.shards);
  });

  it('retries findings Security Hub rejected once, then reports them with their error code', async () => {
    const { seeded } = await seedOrganization(aws());
    const victim = seeded.find((s) => s.kind === 'v1-user' && s.accountId !== MANAGEMENT_ACCOUNT);
    if (!victim) throw new Error('no v1 user seeded');
    const victimId = findingId(victim, victim.instanceId);
    const counter = countCalls();
    // The fault: this one finding reaches Security Hub without Resources, which it rejects (InvalidInput).
    const breakOne = rewriteInput('BatchImportFindings', (input) => {
      for (const f of input.Findings as Array<Partial<AsffFinding>>) if (f.Id === victimId) delete f.Resources;
    });
    const customizeClient = (client: AnyClient) => {
      breakOne(client);
      counter.customizeClient(client);
    };

    const { report, lines } = await sweep(testPolicy(), { apply: false, customizeClient });

    expect(report.findings?.failed).toEqual([
      { accountId: victim.accountId, region: victim.region, instanceId: victim.instanceId, findingId: victimId, errorCode: 'InvalidInput', message: expect.any(String) },
    ]);
    expect(report.findings?.imported).toBe(seeded.length - 1);
    expect(imported(counter).filter((f) => f.Id === victimId)).toHaveLength(2);
    expect(lines.filter((l) => l.message === 'finding not imported')).toEqual([
      expect.objectContaining({ instanceId: victim.instanceId, errorCode: 'InvalidInput', level: 'ERROR' }),
    ]);
  });

  it('imports every finding when what is already there cannot be read', async () => {
    const { seeded } = await seedOrganization(aws(), ['alpha']);
    await sweep(testPolicy(), { apply: true });
    const counter = countCalls();
    const customizeClient = (client: AnyClient) => {
      counter.customizeClient(client);
      (client.middlewareStack as MiddlewareStack<object, object>).add(
        (next, context) => async (args) => {
          if (context.commandName === 'GetFindingsCommand') throw Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });
          return next(args);
        },
        { step: 'initialize', name: 'failGetFindings' },
      );
    };

    const { report, lines } = await sweep(testPolicy(), { apply: true, customizeClient });

    expect(report.findings).toEqual({ enabled: true, imported: seeded.length, unchanged: 0, failed: [] });
    expect(imported(counter)).toHaveLength(seeded.length);
    expect(lines.filter((l) => l.message === 'cannot read existing findings, importing all')).toHaveLength(report.summary.shards);
  });

  it('reports the findings of an account whose Security Hub is disabled as not delivered, and still enforces there', async () => {
    const local = aws();
    const { members, seeded } = await seedOrganization(local);
    const disabled = members[0] ?? '';
    // What Security Hub answers in an account (and region) where it is not enabled.
    const hubOff = intercept('securityHubDisabled', ({ operation, input }) => {
      const about = JSON.stringify(input);
      if ((operation === 'BatchImportFindings' || operation === 'GetFindings') && about.includes(disabled)) {
        throw awsError('InvalidAccessException', `Account ${disabled} is not subscribed to AWS Security Hub`);
      }
    });

    const { report } = await sweep(testPolicy(), { apply: true, customizeClient: hubOff });

    const theirs = seeded.filter((s) => s.accountId === disabled);
    const failed = report.findings?.failed ?? [];
    expect(failed.map((f) => f.instanceId).sort()).toEqual(theirs.map((s) => s.instanceId).sort());
    expect(new Set(failed.map((f) => f.errorCode))).toEqual(new Set(['InvalidAccessException']));
    // Enforcement is not held back by the missing record…
    const changedThere = report.instances.filter((i) => i.accountId === disabled && i.changed);
    expect(changedThere.length).toBe(theirs.filter((s) => ['plain', 'container', 'eks-drift'].includes(s.kind)).length);
    // …and the other accounts' findings are all there.
    const others = (await allFindings(members.slice(1))).length;
    expect(others).toBe(seeded.filter((s) => s.accountId === members[1]).length);
  });

  it('imports at most 100 findings a call', async () => {
    const local = aws();
    await local.createOrganization([]);
    await local.runInstances(MANAGEMENT_ACCOUNT, 'us-east-1', { count: 230, httpTokens: 'required' });
    const counter = countCalls();

    const { report } = await sweep(testPolicy({ scope: { regions: ['us-east-1'] } }), { customizeClient: counter.customizeClient });

    expect(counter.of('BatchImportFindings').map((c) => (c.input.Findings as unknown[]).length)).toEqual([100, 100, 30]);
    expect(report.findings?.imported).toBe(230);
    expect(await readFindings(local, MANAGEMENT_ACCOUNT, 'us-east-1')).toHaveLength(230);
  });

  it('writes no finding with --no-findings or when the policy turns findings off', async () => {
    await seedOrganization(aws());
    const flag = countCalls();
    const byPolicy = countCalls();

    const a = await sweep(testPolicy(), { findings: false, customizeClient: flag.customizeClient });
    const b = await sweep(testPolicy({ findings: { enabled: false } }), { customizeClient: byPolicy.customizeClient });

    for (const { calls } of [flag, byPolicy]) expect(calls.filter((c) => /Findings/.test(c.operation))).toEqual([]);
    expect(a.report.findings).toEqual({ enabled: false, imported: 0, unchanged: 0, failed: [] });
    expect(b.report.findings?.enabled).toBe(false);
  });
});

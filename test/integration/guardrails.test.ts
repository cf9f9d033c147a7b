// `imds-remediator guardrails` against moto: an organization with a clean OU and a dirty one,
// seeded through the SDK. The clean OU is ready and the only place the printed commands attach
// to; the dirty one is not, with its reasons; the SCP it writes is accepted by Organizations'
// CreatePolicy; nothing is ever attached by the tool; the sweep's report and its Slack summary
// carry the same readiness per OU.
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreatePolicyCommand, ListPoliciesCommand, ListRootsCommand, type PolicyType } from '@aws-sdk/client-organizations';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../../functions/app/cli.ts';
import type { ComposeOptions } from '../../functions/app/compose.ts';
import { runGuardrailsCommand } from '../../functions/app/guardrails/command.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { parsePolicy, type PolicyInput } from '../../functions/domain/policy.ts';
import { SCP_MAX_CHARS } from '../../functions/guardrails/documents.ts';
import type { GuardrailsReport } from '../../functions/guardrails/render.ts';
import { days, type LocalAws, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { motoEnvironment } from '../../local/moto-server.ts';
import { startSlackReceiver, type SlackReceiver } from '../../local/slack-receiver.ts';
import { endpoint, sweep, useMoto } from '../support/moto.ts';
import { testPolicy } from '../support/scenario.ts';
import { allOf, awsError, enabledRegions, intercept, recordCalls } from '../support/sdk-middleware.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
const policyInput = (overrides: PolicyInput = {}) => testPolicy({ scope: { regions: [REGION] }, ...overrides });
/** Every account has the policy's one region enabled, and no other (moto enables them all). */
const onlyRegion = enabledRegions([REGION]);

/** A management account and a clean OU of two accounts whose instances all require IMDSv2, and a dirty OU of one. */
const seedOrganizationWithOus = async (local: LocalAws) => {
  const [cleanA = '', cleanB = '', dirty = ''] = await local.createOrganization(['clean-a', 'clean-b', 'dirty']);
  const cleanOu = await local.createOu('Clean', [cleanA, cleanB]);
  const dirtyOu = await local.createOu('Dirty', [dirty]);
  for (const accountId of [MANAGEMENT_ACCOUNT, cleanA, cleanB]) {
    await local.runInstances(accountId, REGION, { httpTokens: 'required', hopLimit: 1 });
    await local.runInstances(accountId, REGION, { httpEndpoint: 'disabled' });
  }
  const [v1User = ''] = await local.runInstances(dirty, REGION, { tags: { Name: 'legacy' } });
  const [quiet = ''] = await local.runInstances(dirty, REGION, { tags: { Name: 'quiet' } });
  const [unknown = ''] = await local.runInstances(dirty, REGION, { tags: { Name: 'no-metrics' } });
  await local.putNoTokenCalls(dirty, REGION, { [v1User]: days(14, 42), [quiet]: days(14) });
  const rootId = (await local.org.send(new ListRootsCommand({}))).Roots?.[0]?.Id ?? '';
  return { cleanA, cleanB, dirty, cleanOu, dirtyOu, rootId, v1User, quiet, unknown };
};

/** The command as the CLI runs it, in an organization whose accounts have `enabled` regions enabled. */
const guardrails = async (outDir: string, overrides: PolicyInput = {}, customizeClient?: ComposeOptions['customizeClient'], enabled = [REGION], allRegions = false) => {
  const printed: string[] = [];
  const io = { stdout: (text: string) => void printed.push(text), stderr: () => undefined };
  const code = await runGuardrailsCommand(
    { json: true, concurrency: 4, outDir, allRegions },
    parsePolicy(policyInput(overrides)),
    readEnvironment(process.env),
    io,
    allOf(enabledRegions(enabled), customizeClient),
  );
  return { code, report: JSON.parse(printed.join('')) as GuardrailsReport, text: printed.join('') };
};

const createPolicy = (local: LocalAws, type: PolicyType, content: string) =>
  local.org.send(new CreatePolicyCommand({ Type: type, Name: `test-${type}`, Description: 'guardrails test', Content: content }));

describe('guardrails: readiness for prevention, per account and OU', () => {
  it('marks the clean OU ready and the dirty one not ready with its reasons, and attaches to the clean OU only', async () => {
    const org = await seedOrganizationWithOus(aws());
    const out = join(await mkdtemp(join(tmpdir(), 'imds-guardrails-')), 'guardrails');
    const rec = recordCalls();

    const { code, report } = await guardrails(out, {}, rec.customizeClient);

    expect(code).toBe(1);
    // The tree costs ListRoots and two listings per root or OU (the root, Clean, Dirty), not one call per account.
    const treeCalls = rec.calls.filter((c) => ['ListRoots', 'ListOrganizationalUnitsForParent', 'ListAccountsForParent'].includes(c.operation));
    expect(treeCalls).toHaveLength(1 + 2 * 3);
    expect(rec.calls.filter((c) => c.operation === 'ListParents')).toEqual([]);
    const unit = (id: string) => report.units.find((u) => u.id === id);
    expect(unit(org.cleanOu)).toMatchObject({ path: 'Root/Clean', ready: true, accounts: 2, readyAccounts: 2 });
    expect(unit(org.dirtyOu)).toMatchObject({ path: 'Root/Dirty', ready: false, accounts: 1, readyAccounts: 0 });
    expect(unit(org.rootId)).toMatchObject({ ready: false, accounts: 4, readyAccounts: 3 });
    const dirty = report.accounts.find((a) => a.accountId === org.dirty);
    expect(dirty).toMatchObject({
      ready: false,
      instances: 3,
      blockers: { 'v1-in-use': 1, 'imdsv1-allowed': 1, 'unknown-evidence': 1 },
      v1Calls: 42,
    });
    expect(dirty?.worst[0]).toMatchObject({ id: org.v1User, blocker: 'v1-in-use', noTokenCalls: 42 });
    expect(report.summary).toMatchObject({ accounts: 4, readyAccounts: 3, sweepErrors: 0 });
    // The clean OU is the one place to attach: not the root (the dirty OU is under it), not the dirty OU,
    // and not the management account, which SCPs do not restrict.
    expect(report.targets).toEqual([{ id: org.cleanOu, name: 'Root/Clean', kind: 'ou' }]);
    const attaches = report.commands.filter((c) => c.startsWith('aws organizations attach-policy'));
    expect(attaches).toHaveLength(2);
    for (const c of attaches) expect(c).toMatch(new RegExp(`--target-id ${org.cleanOu}$`));
  });

  it('keeps an account it cannot reach, and the OU above it, not ready: unknown is never ready', async () => {
    const org = await seedOrganizationWithOus(aws());
    const denyCleanB = intercept('denyAssumeRole', ({ operation, input }) => {
      if (operation === 'AssumeRole' && String(input.RoleArn).includes(org.cleanB)) throw awsError('AccessDenied', 'not authorized to perform sts:AssumeRole');
    });

    const { code, report } = await guardrails(await mkdtemp(join(tmpdir(), 'imds-guardrails-')), {}, denyCleanB);

    expect(code).toBe(1);
    expect(report.accounts.find((a) => a.accountId === org.cleanB)).toMatchObject({ ready: false, blockers: { unreadable: 1 } });
    expect(report.accounts.find((a) => a.accountId === org.cleanA)?.ready).toBe(true);
    expect(report.units.find((u) => u.id === org.cleanOu)).toMatchObject({ ready: false, readyAccounts: 1, accounts: 2 });
    expect(report.errors).toEqual([expect.objectContaining({ accountId: org.cleanB, region: null })]);
    expect(report.targets).toEqual([{ id: org.cleanA, name: 'clean-a', kind: 'account' }]);
  });

  it('writes an SCP that parses, stays under 5,120 characters and is accepted by CreatePolicy; nothing is attached by the tool', async () => {
    await seedOrganizationWithOus(aws());
    const out = join(await mkdtemp(join(tmpdir(), 'imds-guardrails-')), 'nested', 'guardrails');

    const { report } = await guardrails(out, { rollback: 'revert', guardrails: { breakGlassRole: 'arn:aws:iam::123456789012:role/security/ImdsBreakGlass' } });

    // Before the test creates one itself, the organization holds no SCP but AWS's own.
    const before = await aws().org.send(new ListPoliciesCommand({ Filter: 'SERVICE_CONTROL_POLICY' }));
    expect((before.Policies ?? []).map((p) => p.Name)).toEqual(['FullAWSAccess']);
    const scpText = await readFile(report.files.scp, 'utf8');
    expect(scpText.length).toBe(report.files.scpChars);
    expect(scpText.length).toBeLessThanOrEqual(SCP_MAX_CHARS);
    const scp = JSON.parse(scpText) as { Statement: Array<{ Sid: string; Action: string; Condition: Record<string, Record<string, unknown>> }> };
    const statement = (sid: string) => scp.Statement.find((s) => s.Sid === sid);
    expect(statement('RequireImdsV2AtLaunch')?.Condition).toEqual({ StringNotEquals: { 'ec2:MetadataHttpTokens': 'required' } });
    expect(statement('DenyReopeningImdsV1')?.Condition.ArnNotLike).toEqual({
      'aws:PrincipalArn': ['arn:aws:iam::123456789012:role/security/ImdsBreakGlass', 'arn:aws:iam::*:role/ImdsRemediatorMemberRole'],
    });
    // The policy's rules want at most hop limit 2 (containers, EKS).
    expect(statement('ImdsHopLimitCeiling')?.Condition).toEqual({ NumericGreaterThan: { 'ec2:MetadataHttpPutResponseHopLimit': '2' } });
    expect(statement('ImdsHopLimitCeilingOnChange')?.Condition).toEqual({
      NumericGreaterThan: { 'ec2:Attribute/HttpPutResponseHopLimit': '2' },
      Null: { 'ec2:Attribute/HttpPutResponseHopLimit': 'false' },
    });

    const created = await createPolicy(aws(), 'SERVICE_CONTROL_POLICY', scpText);
    expect(created.Policy?.PolicySummary?.Type).toBe('SERVICE_CONTROL_POLICY');
    expect(JSON.parse(created.Policy?.Content ?? '{}')).toEqual(scp);
  });

  it('with --all-regions reads the enabled regions outside scope.regions too: an IMDSv1 user there keeps its account not ready', async () => {
    const org = await seedOrganizationWithOus(aws());
    const enabled = [REGION, 'eu-west-1'];
    for (const accountId of [MANAGEMENT_ACCOUNT, org.cleanA, org.cleanB]) await aws().runInstances(accountId, 'eu-west-1', { httpTokens: 'required', hopLimit: 1 });
    const [hidden = ''] = await aws().runInstances(org.cleanB, 'eu-west-1', { tags: { Name: 'outside-scope' } });
    await aws().putNoTokenCalls(org.cleanB, 'eu-west-1', { [hidden]: days(14, 9) });

    const { report } = await guardrails(await mkdtemp(join(tmpdir(), 'imds-guardrails-')), {}, undefined, enabled, true);

    expect(report.accounts.find((a) => a.accountId === org.cleanA)).toMatchObject({ ready: true, unsweptRegions: [] });
    const cleanB = report.accounts.find((a) => a.accountId === org.cleanB);
    expect(cleanB).toMatchObject({ ready: false, blockers: { 'v1-in-use': 1 } });
    expect(cleanB?.worst[0]).toMatchObject({ id: hidden, region: 'eu-west-1', noTokenCalls: 9 });
    expect(report.targets).toEqual([{ id: org.cleanA, name: 'clean-a', kind: 'account' }]);
  });

  it('keeps every account not ready while a region enabled in it is outside scope.regions, naming it, and attaches nowhere', async () => {
    const org = await seedOrganizationWithOus(aws());
    const enabled = [REGION, 'eu-west-1'];

    const { code, report, text } = await guardrails(await mkdtemp(join(tmpdir(), 'imds-guardrails-')), {}, undefined, enabled);
    const swept = await sweep(policyInput(), { findings: false, customizeClient: enabledRegions(enabled) });

    expect(code).toBe(1);
    expect(report.accounts.find((a) => a.accountId === org.cleanA)).toMatchObject({
      ready: false,
      blockers: { 'regions-not-swept': 1 },
      unsweptRegions: ['eu-west-1'],
    });
    expect(report.summary).toMatchObject({ accounts: 4, readyAccounts: 0 });
    expect(report.targets).toEqual([]);
    expect(text).not.toContain('attach-policy');
    // The sweep's own readiness (the one the deployed report step computes) says the same.
    expect(swept.report.readiness).toMatchObject({ accounts: 4, readyAccounts: 0 });
  });

  it('prints the declarative policy’s commands before the SCP’s, saying which launches the SCP denies', async () => {
    await seedOrganizationWithOus(aws());
    const printed: string[] = [];
    const io = { stdout: (t: string) => void printed.push(t), stderr: () => undefined };
    const out = await mkdtemp(join(tmpdir(), 'imds-guardrails-'));

    await runGuardrailsCommand({ json: false, concurrency: 4, outDir: out }, parsePolicy(policyInput()), readEnvironment(process.env), io, onlyRegion);

    const text = printed.join('');
    expect(text.indexOf('--policy-id "$DP_ID"')).toBeGreaterThan(0);
    expect(text.indexOf('SCP_ID=$(')).toBeGreaterThan(text.indexOf('--policy-id "$DP_ID"'));
    // Beside the files too, before any command.
    expect(text.indexOf('denies every launch that does not explicitly ask for IMDSv2')).toBeLessThan(text.indexOf('DP_ID=$('));
    expect(text).toContain('Terraform aws_instance without metadata_options');
  });

  it('replaces a link planted at a file’s path in a shared --out instead of writing through it', async () => {
    await seedOrganizationWithOus(aws());
    const dir = await mkdtemp(join(tmpdir(), 'imds-guardrails-'));
    const out = join(dir, 'shared');
    await mkdir(out);
    const victim = join(dir, 'victim');
    await writeFile(victim, 'untouched');
    await symlink(victim, join(out, 'scp-require-imdsv2.json'));

    const { report } = await guardrails(out);

    expect(await readFile(victim, 'utf8')).toBe('untouched');
    expect((await lstat(report.files.scp)).isSymbolicLink()).toBe(false);
    expect(JSON.parse(await readFile(report.files.scp, 'utf8'))).toHaveProperty('Statement');
    expect((await readdir(out)).sort()).toEqual(['declarative-policy-ec2-imdsv2.json', 'scp-require-imdsv2.json']);
  });

  it('warns when it cannot tell the management account, which an attach target may then be', async () => {
    await seedOrganizationWithOus(aws());
    const noDescribe = intercept('noDescribeOrganization', ({ operation }) => {
      if (operation === 'DescribeOrganization') throw awsError('AccessDeniedException', 'not authorized to perform organizations:DescribeOrganization');
    });

    const { report } = await guardrails(await mkdtemp(join(tmpdir(), 'imds-guardrails-')), {}, noDescribe);
    const { report: known } = await guardrails(await mkdtemp(join(tmpdir(), 'imds-guardrails-')));

    expect(report.warnings).toEqual([expect.stringContaining('the management account could not be identified')]);
    expect(known.warnings).toBeUndefined();
  });

  it('writes the EC2 declarative policy with the documented structure (moto refuses its type: said, not hidden)', async () => {
    await seedOrganizationWithOus(aws());
    const out = await mkdtemp(join(tmpdir(), 'imds-guardrails-'));

    const { report } = await guardrails(out);

    const text = await readFile(report.files.declarativePolicy, 'utf8');
    expect(JSON.parse(text)).toEqual({
      ec2_attributes: {
        instance_metadata_defaults: {
          http_tokens: { '@@assign': 'required' },
          // The policy's default; the rules' higher hop limit (2) is the SCP's ceiling only.
          http_put_response_hop_limit: { '@@assign': '1' },
          http_endpoint: { '@@assign': 'enabled' },
          instance_metadata_tags: { '@@assign': 'no_preference' },
          http_tokens_enforced: { '@@assign': 'enabled' },
        },
        exception_message: { '@@assign': expect.stringContaining('IMDSv2 is required') },
      },
    });
    // moto 5.2 refuses the type (InvalidInputException, "an invalid value"); AWS knows it as DECLARATIVE_POLICY_EC2.
    await expect(createPolicy(aws(), 'DECLARATIVE_POLICY_EC2', text)).rejects.toMatchObject({ name: 'InvalidInputException' });
  });
});

describe('the sweep report and the Slack summary carry the readiness per OU', () => {
  let receiver: SlackReceiver;
  beforeEach(async () => {
    receiver = await startSlackReceiver();
  });
  afterEach(async () => {
    await receiver.close();
  });

  it('counts the ready accounts of each OU in the JSON report and in the message Slack receives', async () => {
    const org = await seedOrganizationWithOus(aws());

    const { report } = await sweep(policyInput(), { env: { SLACK_WEBHOOK_URL: receiver.url() }, findings: false, customizeClient: onlyRegion });

    expect(report.readiness).toMatchObject({ accounts: 4, readyAccounts: 3, unitCount: 3 });
    expect(report.readiness?.units.map((u) => [u.path, u.readyAccounts, u.accounts, u.ready])).toEqual([
      ['Root', 3, 4, false],
      ['Root/Clean', 2, 2, true],
      ['Root/Dirty', 0, 1, false],
    ]);
    const posted = receiver.received[0]?.body as { text: string; blocks: Array<{ text?: { text: string } }> };
    expect(posted.text).toContain('3 of 4 accounts ready for prevention');
    const section = posted.blocks.map((b) => b.text?.text ?? '').find((t) => t.startsWith('*Ready for prevention'));
    expect(section).toContain(`Root/Clean (\`${org.cleanOu}\`): 2/2 accounts ready`);
    expect(section).toContain(`Root/Dirty (\`${org.dirtyOu}\`): 0/1 accounts ready`);
  });

  it('counts an account ready once apply has enforced what the evidence allowed, and not while IMDSv1 is in use', async () => {
    const org = await seedOrganizationWithOus(aws());
    await aws().terminate(org.dirty, REGION, [org.v1User, org.unknown]);

    const planned = await sweep(policyInput(), { findings: false, customizeClient: onlyRegion });
    const applied = await sweep(policyInput(), { apply: true, findings: false, customizeClient: onlyRegion });

    expect(planned.report.readiness?.readyAccounts).toBe(3);
    expect(applied.report.readiness?.readyAccounts).toBe(4);
    expect(applied.report.readiness?.units.find((u) => u.id === org.dirtyOu)?.ready).toBe(true);
  });
});

describe('a launch template that still allows IMDSv1 keeps its account not ready', () => {
  it('in guardrails, naming the template, and in the report until apply gives it a version requiring IMDSv2', async () => {
    const org = await seedOrganizationWithOus(aws());
    // Nothing runs from it: the sweep fixes it only under launchTemplates.unused: fix (the default
    // is report), and only apply does.
    const templateId = await aws().createLaunchTemplate(org.cleanA, REGION, 'old-web', {
      ImageId: 'ami-12c6146b',
      InstanceType: 't3.micro',
      MetadataOptions: { HttpTokens: 'optional', HttpPutResponseHopLimit: 1 },
    });

    const { report: gr } = await guardrails(await mkdtemp(join(tmpdir(), 'imds-guardrails-')));
    const cleanA = gr.accounts.find((a) => a.accountId === org.cleanA);
    expect(cleanA).toMatchObject({ ready: false, blockers: { 'template-allows-v1': 1 } });
    expect(cleanA?.worst).toEqual([expect.objectContaining({ id: templateId, name: 'old-web', blocker: 'template-allows-v1' })]);
    expect(gr.units.find((u) => u.id === org.cleanOu)).toMatchObject({ ready: false, readyAccounts: 1 });
    expect(gr.targets).toEqual([{ id: org.cleanB, name: 'clean-b', kind: 'account' }]);

    const unusedFix = policyInput({ launchTemplates: { unused: 'fix' } });
    const planned = await sweep(unusedFix, { findings: false, customizeClient: onlyRegion });
    expect(planned.report.readiness?.readyAccounts).toBe(2);
    const applied = await sweep(unusedFix, { apply: true, findings: false, customizeClient: onlyRegion });
    expect(applied.report.templates).toEqual([expect.objectContaining({ launchTemplateId: templateId, allowsV1: false })]);
    expect(applied.report.readiness?.units.find((u) => u.id === org.cleanOu)).toMatchObject({ ready: true, readyAccounts: 2 });
  });
});

/** The installed command in a child process. */
const cli = (args: string[], user: { uid?: number; gid?: number } = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['bin/imds-remediator.js', ...args], { env: { ...process.env, ...motoEnvironment(endpoint()) }, ...user }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

// root may write anywhere, so "not writable" is tried as the unprivileged user.
const asUnprivileged = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

describe('a bad --out is exit 2, before any AWS call', () => {
  it('refuses --out on another command', async () => {
    const stderr: string[] = [];
    const io = { stdout: () => undefined, stderr: (t: string) => void stderr.push(t), isTty: false, env: process.env };

    const code = await runCli(['plan', '--policy', 'policy.yaml', '--out', 'x'], io);

    expect(code).toBe(2);
    expect(stderr.join('')).toContain('--out is an option of guardrails only');
    expect(await runCli(['apply', '--policy', 'policy.yaml', '--all-regions'], io)).toBe(2);
    expect(stderr.join('')).toContain('--all-regions is an option of guardrails only');
  });

  it.each([
    ['a file', (dir: string) => join(dir, 'policy.yaml'), /--out .*policy\.yaml is a file, not a directory/, {}],
    ['below a file', (dir: string) => join(dir, 'policy.yaml', 'guardrails'), /--out .*cannot be created as a directory: a file is in the way/, {}],
    ['a directory the user may not write', (dir: string) => join(dir, 'locked'), /--out .*locked is not writable: EACCES/, asUnprivileged],
  ])('refuses --out that is %s, naming the path and why', async (_, outIn, expected, user) => {
    const dir = await mkdtemp(join(tmpdir(), 'imds-guardrails-'));
    await chmod(dir, 0o755);
    const policy = join(dir, 'policy.yaml');
    await writeFile(policy, stringify(policyInput()), { mode: 0o644 });
    await mkdir(join(dir, 'locked'), { mode: 0o555 });

    const { code, stdout, stderr } = await cli(['guardrails', '--policy', policy, '--out', outIn(dir)], user);

    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(expected);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

// Issue 16, item 1: launch templates get a new default version requiring IMDSv2 when the
// evidence of the instances launched from them allows it, through the real SDK against moto.
import { AutoScalingClient, CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, DescribeTagsCommand, ModifyLaunchTemplateCommand, type RequestLaunchTemplateData } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { TAG_REASON, TAG_TEMPLATE_FIXED_AT } from '../../functions/domain/tags.ts';
import { TEMPLATE_GENERATOR_ID } from '../../functions/findings/template-findings.ts';
import { renderReport } from '../../functions/report/render-text.ts';
import { readFindings } from '../../local/findings.ts';
import { days, MANAGEMENT_ACCOUNT, type LocalAws } from '../../local/local-aws.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';
import { awsError, intercept, recordCalls } from '../support/sdk-middleware.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
const ACCOUNT = MANAGEMENT_ACCOUNT;
const policy = (overrides: Parameters<typeof testPolicy>[0] = {}) => testPolicy({ scope: { regions: [REGION] }, ...overrides });

/** Launch data with more than metadata options in it, so that a lost field shows. */
const RICH_DATA: RequestLaunchTemplateData = {
  ImageId: 'ami-12c6146b',
  InstanceType: 't3.micro',
  UserData: Buffer.from('#!/bin/sh\necho hello from the template\n').toString('base64'),
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 20, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
  Monitoring: { Enabled: true },
  TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'workload', Value: 'ecs' }, { Key: 'team', Value: 'payments' }] }],
  MetadataOptions: { HttpTokens: 'optional', HttpPutResponseHopLimit: 1 },
};

const versionsOf = async (local: LocalAws, templateId: string, versions?: string[]) => {
  const ec2 = await local.ec2(ACCOUNT, REGION);
  const out = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: templateId, ...(versions ? { Versions: versions } : {}) }));
  return out.LaunchTemplateVersions ?? [];
};

const templateOf = async (local: LocalAws, templateId: string) => {
  const ec2 = await local.ec2(ACCOUNT, REGION);
  const out = await ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [templateId] }));
  const t = out.LaunchTemplates?.[0];
  // moto leaves tags added by CreateTags out of DescribeLaunchTemplates; DescribeTags has them.
  const tagged = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [templateId] }] }));
  return { defaultVersion: t?.DefaultVersionNumber, latestVersion: t?.LatestVersionNumber, tags: Object.fromEntries((tagged.Tags ?? []).map((x) => [x.Key, x.Value])) };
};

/** The launch data without its metadata options, and without the launch-template tags moto echoes into it. */
const withoutMetadata = (data: Record<string, unknown> | undefined) => {
  const { MetadataOptions: _m, TagSpecifications, ...rest } = data ?? {};
  const specs = (TagSpecifications as Array<{ ResourceType?: string }> | undefined)?.filter((s) => s.ResourceType !== 'launch-template');
  return { ...rest, TagSpecifications: specs };
};

/** A template with instances launched from it, each with this many IMDSv1 calls a day over 14 observed days. */
const seedTemplate = async (local: LocalAws, name: string, callsPerInstance: number[], data = RICH_DATA, tags: Record<string, string> = {}) => {
  const templateId = await local.createLaunchTemplate(ACCOUNT, REGION, name, data, tags);
  const instanceIds: string[] = [];
  for (const calls of callsPerInstance) instanceIds.push(...(await local.runFromTemplate(ACCOUNT, REGION, templateId)));
  await local.putNoTokenCalls(ACCOUNT, REGION, Object.fromEntries(instanceIds.map((id, n) => [id, days(14, callsPerInstance[n] ?? 0)])));
  return { templateId, instanceIds };
};

describe('launch templates', () => {
  it('gives a template whose instances are clean a new default version requiring IMDSv2, its other launch data unchanged', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0, 0]);
    const [before] = await versionsOf(local, templateId, ['$Default']);

    const { report, lines } = await sweep(policy(), { apply: true });

    const result = report.templates.find((t) => t.launchTemplateId === templateId);
    expect(result).toMatchObject({ verdict: 'fix', changed: true, allowsV1: false, instances: 2, createdVersions: [2], launchTemplateName: 'web' });
    const template = await templateOf(local, templateId);
    expect(template).toMatchObject({ defaultVersion: 2, latestVersion: 2 });
    expect(template.tags[TAG_TEMPLATE_FIXED_AT]).toEqual(expect.any(String));
    expect(template.tags[TAG_REASON]).toMatch(/0 IMDSv1 calls/);
    const [after] = await versionsOf(local, templateId, ['$Default']);
    // The instances' tag workload=ecs makes the policy want hop limit 2 for what the template launches.
    expect(after?.LaunchTemplateData?.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 2 });
    // Only HttpTokens (and the hop limit) change: the endpoint stays as the source has it (not set: enabled).
    expect(after?.LaunchTemplateData?.MetadataOptions?.HttpEndpoint).toBe(before?.LaunchTemplateData?.MetadataOptions?.HttpEndpoint);
    expect(withoutMetadata(after?.LaunchTemplateData as Record<string, unknown>)).toEqual(withoutMetadata(before?.LaunchTemplateData as Record<string, unknown>));
    // No time in it: a retry with the same ClientToken must send the same request, or EC2 answers IdempotentParameterMismatch.
    expect(after?.VersionDescription).toBe('imds-remediator: copy of version 1 with IMDSv2 required, hop limit 2');
    expect(report.summary.templates).toMatchObject({ templates: 1, changed: 1, allowingV1: 0 });
    expect(lines.some((l) => l.message === 'template changed')).toBe(true);

    const [finding] = await readFindings(local, ACCOUNT, REGION, TEMPLATE_GENERATOR_ID);
    expect(finding?.Compliance?.Status).toBe('PASSED');
    expect(finding?.Resources?.[0]).toMatchObject({
      Type: 'AwsEc2LaunchTemplate',
      Id: `arn:aws:ec2:${REGION}:${ACCOUNT}:launch-template/${templateId}`,
      Details: { AwsEc2LaunchTemplate: { Id: templateId, DefaultVersionNumber: 2, LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 } } } },
    });
  });

  it('leaves a template whose instances use IMDSv1 as it is, naming them, and records a FAILED finding', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId, instanceIds } = await seedTemplate(local, 'legacy', [0, 42]);

    const { report } = await sweep(policy(), { apply: true });

    const result = report.templates.find((t) => t.launchTemplateId === templateId);
    expect(result).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false, allowsV1: true, v1Users: [{ instanceId: instanceIds[1], calls: 42 }] });
    expect(result?.reason).toContain(instanceIds[1]);
    expect(await templateOf(local, templateId)).toMatchObject({ defaultVersion: 1, latestVersion: 1 });
    expect((await templateOf(local, templateId)).tags[TAG_TEMPLATE_FIXED_AT]).toBeUndefined();
    const [finding] = await readFindings(local, ACCOUNT, REGION, TEMPLATE_GENERATOR_ID);
    expect(finding).toMatchObject({ Compliance: { Status: 'FAILED' }, Severity: { Label: 'HIGH' } });
  });

  it('leaves a template untouched while the IMDSv1 use of an instance launched from it is unknown', async () => {
    const local = aws();
    await local.createOrganization([]);
    const templateId = await local.createLaunchTemplate(ACCOUNT, REGION, 'new-ish', RICH_DATA);
    const [young = ''] = await local.runFromTemplate(ACCOUNT, REGION, templateId);
    await local.putNoTokenCalls(ACCOUNT, REGION, { [young]: days(3) });

    const { report } = await sweep(policy(), { apply: true });

    expect(report.templates[0]).toMatchObject({ verdict: 'insufficient-evidence', changed: false, allowsV1: true });
    expect(report.templates[0]?.reason).toMatch(/observed on 3 of the 7 days/);
    expect(await templateOf(local, templateId)).toMatchObject({ defaultVersion: 1, latestVersion: 1 });
  });

  it('plans every template change and changes nothing', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0]);

    const { report } = await sweep(policy(), { apply: false });

    expect(report.templates[0]).toMatchObject({ verdict: 'fix', changed: false, createdVersions: [], changes: [{ sourceVersion: 1, hopLimit: 2, makeDefault: true }] });
    expect(await templateOf(local, templateId)).toEqual({ defaultVersion: 1, latestVersion: 1, tags: {} });
    expect(renderReport(report)).toMatch(/Templates that would get a new default version \(1\):\n {2}lt-\w+ \(web\) .*a new version = version 1 \+ HttpTokens=required, hop limit 2, made \$Default/);
  });

  it('creates no second version when apply runs twice', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0]);

    await sweep(policy(), { apply: true });
    const second = await sweep(policy(), { apply: true });

    expect(second.report.templates[0]).toMatchObject({ verdict: 'compliant', changed: false, allowsV1: false });
    expect(await templateOf(local, templateId)).toMatchObject({ defaultVersion: 2, latestVersion: 2 });
    expect(await versionsOf(local, templateId)).toHaveLength(2);
  });

  it('leaves a template whose $Latest differs from $Default to a person, whatever its evidence', async () => {
    const local = aws();
    await local.createOrganization([]);
    const templateId = await local.createLaunchTemplate(ACCOUNT, REGION, 'canary', RICH_DATA);
    await local.addLaunchTemplateVersion(ACCOUNT, REGION, templateId, { ...RICH_DATA, InstanceType: 't3.large' });
    const autoscaling = new AutoScalingClient({ region: REGION });
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'canary', MinSize: 0, MaxSize: 1, DesiredCapacity: 0, LaunchTemplate: { LaunchTemplateId: templateId, Version: '$Latest' }, AvailabilityZones: [`${REGION}a`] }),
    );
    const ids = [...(await local.runFromTemplate(ACCOUNT, REGION, templateId, { version: '1' })), ...(await local.runFromTemplate(ACCOUNT, REGION, templateId, { version: '2' }))];
    await local.putNoTokenCalls(ACCOUNT, REGION, Object.fromEntries(ids.map((id) => [id, days(14)])));

    const { report } = await sweep(policy(), { apply: true });

    // A new version becomes $Latest: the group would launch $Default's data (t3.micro) instead of its t3.large.
    expect(report.templates[0]).toMatchObject({ verdict: 'blocked', changed: false, allowsV1: true, createdVersions: [] });
    expect(report.templates[0]?.reason).toMatch(/\$Latest \(version 2\) differs from \$Default \(version 1\).*a person decides/);
    expect(await templateOf(local, templateId)).toEqual({ defaultVersion: 1, latestVersion: 2, tags: {} });
  });

  it('writes its tag only once the new default is made, and reports the version it created when a later step fails', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0]);
    const failDefault = intercept('failDefault', (call) => {
      if (call.operation === 'ModifyLaunchTemplate') throw awsError('RequestLimitExceeded', 'throttled');
    });

    const { report } = await sweep(policy(), { apply: true, customizeClient: failDefault });

    expect(report.templates[0]).toMatchObject({ verdict: 'error', changed: false, createdVersions: [2] });
    expect(report.templates[0]?.reason).toMatch(/version 2 created \(now \$Latest\), \$Default left at 1/);
    expect(await templateOf(local, templateId)).toEqual({ defaultVersion: 1, latestVersion: 2, tags: {} });
  });

  it('does not make a copy the default when its launch data, read back, differs from the source beyond the metadata options', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0]);
    // Something between the tool and EC2 loses a field of the copy (here: the instance type changes).
    const alter = intercept('alter', (call) => {
      if (call.operation === 'CreateLaunchTemplateVersion') (call.input.LaunchTemplateData as RequestLaunchTemplateData).InstanceType = 'm5.large';
    });

    const { report } = await sweep(policy(), { apply: true, customizeClient: alter });

    expect(report.templates[0]).toMatchObject({ verdict: 'error', changed: false, allowsV1: true, createdVersions: [2] });
    expect(report.templates[0]?.reason).toMatch(/version 2 differs from its source in InstanceType: not made the default/);
    expect(await templateOf(local, templateId)).toEqual({ defaultVersion: 1, latestVersion: 2, tags: {} });
  });

  it('reports a template set back to IMDSv1 after its fix and does not fix it again (no fight with infrastructure as code)', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'tf-managed', [0]);
    await sweep(policy(), { apply: true });
    // terraform apply: a new version as the code declares it, made the default.
    const ec2 = await local.ec2(ACCOUNT, REGION);
    const setBack = await local.addLaunchTemplateVersion(ACCOUNT, REGION, templateId, RICH_DATA);
    await ec2.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: templateId, DefaultVersion: String(setBack) }));
    const [fresh = ''] = await local.runFromTemplate(ACCOUNT, REGION, templateId, { version: String(setBack) });
    await local.putNoTokenCalls(ACCOUNT, REGION, { [fresh]: days(14) });

    const { report } = await sweep(policy(), { apply: true });

    expect(report.templates[0]).toMatchObject({ verdict: 'blocked', changed: false, allowsV1: true, createdVersions: [] });
    expect(report.templates[0]?.reason).toMatch(/set back after imds-remediator's fix/);
    const [finding] = await readFindings(local, ACCOUNT, REGION, TEMPLATE_GENERATOR_ID);
    expect(finding).toMatchObject({ Compliance: { Status: 'FAILED' }, FindingProviderFields: { Severity: { Label: 'MEDIUM' } } });
    expect(finding?.Remediation?.Recommendation?.Text).toMatch(/^imds-remediator leaves this template to a person \(it was set back to IMDSv1 after the tool fixed it\)/);
    expect(await templateOf(local, templateId)).toMatchObject({ defaultVersion: 3, latestVersion: 3 });
  });

  it('records NOT_AVAILABLE, not FAILED, for a template whose versions could not be read', async () => {
    const local = aws();
    await local.createOrganization([]);
    await seedTemplate(local, 'web', [0]);
    const failVersions = intercept('failVersions', (call) => {
      if (call.operation === 'DescribeLaunchTemplateVersions') throw awsError('UnauthorizedOperation', 'not allowed');
    });

    const { report } = await sweep(policy(), { apply: true, customizeClient: failVersions });

    expect(report.templates[0]).toMatchObject({ verdict: 'error', changed: false });
    const [finding] = await readFindings(local, ACCOUNT, REGION, TEMPLATE_GENERATOR_ID);
    expect(finding?.Compliance?.Status).toBe('NOT_AVAILABLE');
  });

  it('reports an Auto Scaling group pinned to a numbered version that allows IMDSv1, and a launch configuration', async () => {
    const local = aws();
    await local.createOrganization([]);
    const templateId = await local.createLaunchTemplate(ACCOUNT, REGION, 'pinned', RICH_DATA);
    const fixed = await local.addLaunchTemplateVersion(ACCOUNT, REGION, templateId, { ...RICH_DATA, MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 } });
    const ec2 = await local.ec2(ACCOUNT, REGION);
    await ec2.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: templateId, DefaultVersion: String(fixed) }));
    const autoscaling = new AutoScalingClient({ region: REGION });
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'old-workers', MinSize: 0, MaxSize: 1, DesiredCapacity: 0, LaunchTemplate: { LaunchTemplateId: templateId, Version: '1' }, AvailabilityZones: [`${REGION}a`] }),
    );
    await autoscaling.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: 'legacy-lc', ImageId: 'ami-12c6146b', InstanceType: 't3.micro', MetadataOptions: { HttpTokens: 'optional' } }));
    await autoscaling.send(new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'legacy', MinSize: 0, MaxSize: 1, DesiredCapacity: 0, LaunchConfigurationName: 'legacy-lc', AvailabilityZones: [`${REGION}a`] }));

    const { report } = await sweep(policy(), { apply: true });

    expect(report.templates[0]).toMatchObject({ verdict: 'compliant', allowsV1: false, pinned: [{ group: 'old-workers', version: 1 }] });
    expect(report.launchConfigurations).toEqual([expect.objectContaining({ name: 'legacy-lc', groups: ['legacy'] })]);
    expect(report.summary.templates).toMatchObject({ pinnedGroups: 1, launchConfigurations: 1 });
    const text = renderReport(report);
    expect(text).toContain(`--launch-template-id ${templateId} --source-version 1 --launch-template-data '{"MetadataOptions":{"HttpTokens":"required","HttpEndpoint":"enabled"}}'`);
    expect(text).toContain(`update-auto-scaling-group --auto-scaling-group-name old-workers --launch-template LaunchTemplateId=${templateId},Version="$V"`);
    expect(text).not.toContain("Version='$Default'");
    expect(text).toMatch(/Launch configurations that allow IMDSv1 \(1\); they cannot be changed:\n {2}legacy-lc/);
    expect(await templateOf(local, templateId)).toMatchObject({ defaultVersion: 2, latestVersion: 2 });
  });

  it('counts template changes against maxChangesPerAccountRegion, after the instances, and takes the rest up in the next run', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [plain = ''] = await local.runInstances(ACCOUNT, REGION, {});
    await local.putNoTokenCalls(ACCOUNT, REGION, { [plain]: days(14) });
    const first = await local.createLaunchTemplate(ACCOUNT, REGION, 'unused-a', RICH_DATA);
    const second = await local.createLaunchTemplate(ACCOUNT, REGION, 'unused-b', RICH_DATA);
    const [earlier, later] = [first, second].sort();
    // Templates no instance runs from are changed only under launchTemplates.unused: fix.
    const capped = policy({ maxChangesPerAccountRegion: 2, launchTemplates: { unused: 'fix' } });

    const run = await sweep(capped, { apply: true });

    expect(run.report.instances[0]).toMatchObject({ instanceId: plain, changed: true });
    const byId = new Map(run.report.templates.map((t) => [t.launchTemplateId, t]));
    expect(byId.get(earlier ?? '')).toMatchObject({ verdict: 'fix', changed: true });
    expect(byId.get(later ?? '')).toMatchObject({ verdict: 'fix', changed: false, allowsV1: true });
    expect(byId.get(later ?? '')?.reason).toMatch(/deferred to the next run: the policy allows 2 changes per account-region per run/);
    expect(await templateOf(local, later ?? '')).toEqual({ defaultVersion: 1, latestVersion: 1, tags: {} });

    const next = await sweep(capped, { apply: true });
    expect(next.report.templates.find((t) => t.launchTemplateId === later)).toMatchObject({ changed: true });
  });

  it('leaves a template no instance runs from as it is by default (launchTemplates.unused: report)', async () => {
    const local = aws();
    await local.createOrganization([]);
    const templateId = await local.createLaunchTemplate(ACCOUNT, REGION, 'unused', RICH_DATA);

    const { report } = await sweep(policy(), { apply: true });

    expect(report.templates[0]).toMatchObject({ verdict: 'insufficient-evidence', changed: false });
    expect(await templateOf(local, templateId)).toMatchObject({ defaultVersion: 1 });
  });

  it('writes no template under launchTemplates.fix: false (the default), and says so, asking IAM for nothing', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0]);
    const rec = recordCalls();

    const { report } = await sweep(policy({ launchTemplates: { fix: false } }), { apply: true, customizeClient: rec.customizeClient });

    expect(report.templates[0]).toMatchObject({ verdict: 'fix', changed: false, allowsV1: true });
    expect(report.templates[0]?.reason).toContain('not changed: launchTemplates.fix is false');
    for (const op of ['CreateLaunchTemplateVersion', 'ModifyLaunchTemplate']) expect(rec.calls.filter((c) => c.operation === op), op).toEqual([]);
    expect(await templateOf(local, templateId)).toMatchObject({ defaultVersion: 1 });
  });

  it('names FixLaunchTemplates when IAM refuses the template write, and leaves the template as it was', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0]);
    // What IAM answers a role deployed with FixLaunchTemplates=false (test/infra/member-role.test.ts).
    const denied = () => awsError('UnauthorizedOperation', 'You are not authorized to perform this operation. Encoded authorization failure message: abc');
    const writes = ['CreateLaunchTemplateVersion', 'ModifyLaunchTemplate'];
    const denyTemplateWrites = intercept('denyTemplateWrites', (call) => {
      const onTemplate = ((call.input.Resources as string[] | undefined) ?? []).some((r) => r.startsWith('lt-'));
      if (writes.includes(call.operation) || (call.operation === 'CreateTags' && onTemplate)) throw denied();
    });

    const { report } = await sweep(policy(), { apply: true, customizeClient: denyTemplateWrites });

    expect(report.templates[0]).toMatchObject({ verdict: 'error', changed: false, allowsV1: true });
    // The template is tagged only after its new default is set: the version is the first write refused.
    expect(report.templates[0]?.reason).toMatch(/^new default version failed: TemplateFixNotAllowedError: CreateLaunchTemplateVersion on lt-\w+ was denied: .*FixLaunchTemplates=true/);
    expect(report.templates[0]?.reason).not.toContain('Encoded authorization failure');
    expect(await templateOf(local, templateId)).toEqual({ defaultVersion: 1, latestVersion: 1, tags: {} });
    expect(report.instances[0]).toMatchObject({ changed: true }); // instances are fixed as before
  });

  it('copies user data without ever writing it to a log line, the report or a finding', async () => {
    const local = aws();
    await local.createOrganization([]);
    const secret = 'DB_PASSWORD=hunter2-very-secret';
    const userData = Buffer.from(`#!/bin/sh\nexport ${secret}\n`).toString('base64');
    const { templateId } = await seedTemplate(local, 'web', [0], { ...RICH_DATA, UserData: userData });

    const { report, lines } = await sweep(policy(), { apply: true });

    expect(report.templates[0]).toMatchObject({ verdict: 'fix', changed: true });
    const [copy] = await versionsOf(local, templateId, ['$Default']);
    expect(copy?.LaunchTemplateData?.UserData).toBe(userData);
    const findings = await readFindings(local, ACCOUNT, REGION, TEMPLATE_GENERATOR_ID);
    for (const [what, text] of Object.entries({ lines: JSON.stringify(lines), report: JSON.stringify(report), text: renderReport(report), findings: JSON.stringify(findings) })) {
      expect(text, what).not.toContain(userData);
      expect(text, what).not.toContain('hunter2');
    }
  });

  it('leaves a template untouched, as an error, when the evidence of its instances cannot be read', async () => {
    const local = aws();
    await local.createOrganization([]);
    const { templateId } = await seedTemplate(local, 'web', [0]);
    const failMetrics = intercept('failMetrics', (call) => {
      if (call.operation === 'GetMetricData') throw awsError('AccessDenied', 'not allowed to read metrics');
    });

    const { report } = await sweep(policy(), { apply: true, customizeClient: failMetrics });

    expect(report.templates[0]).toMatchObject({ verdict: 'error', changed: false, allowsV1: true });
    expect(report.templates[0]?.reason).toMatch(/could not be read/);
    expect(await templateOf(local, templateId)).toEqual({ defaultVersion: 1, latestVersion: 1, tags: {} });
    expect((await readInstance(local, ACCOUNT, REGION, report.instances[0]?.instanceId ?? '')).httpTokens).toBe('optional');
  });
});

// Reviewer repros (review2): each test asserts the SAFE behaviour and failed on 207df9f.
// R4 (group names quoted in shell commands) is fixed and tested by the shell-quoting work, not here.
import { AutoScalingClient, CreateAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeLaunchTemplateVersionsCommand, DescribeLaunchTemplatesCommand, ModifyLaunchTemplateCommand, type RequestLaunchTemplateData } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { days, MANAGEMENT_ACCOUNT, type LocalAws } from '../../local/local-aws.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { testPolicy } from '../support/scenario.ts';
import { awsError, intercept } from '../support/sdk-middleware.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
const ACCOUNT = MANAGEMENT_ACCOUNT;
const policy = (o: Parameters<typeof testPolicy>[0] = {}) => testPolicy({ scope: { regions: [REGION] }, ...o });
const DATA: RequestLaunchTemplateData = { ImageId: 'ami-12c6146b', InstanceType: 't3.micro', MetadataOptions: { HttpTokens: 'optional', HttpPutResponseHopLimit: 1 } };
const version = async (local: LocalAws, id: string, v: string) =>
  (await (await local.ec2(ACCOUNT, REGION)).send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: [v] }))).LaunchTemplateVersions?.[0];
const template = async (local: LocalAws, id: string) => (await (await local.ec2(ACCOUNT, REGION)).send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [id] }))).LaunchTemplates?.[0];

describe('review2', () => {
  it('R1: evidence from instances of an OLD version does not vouch for a different $Default (new AMI/user data)', async () => {
    const local = aws();
    await local.createOrganization([]);
    const id = await local.createLaunchTemplate(ACCOUNT, REGION, 'app', DATA);
    const [old = ''] = await local.runFromTemplate(ACCOUNT, REGION, id, { version: '1' });
    await local.putNoTokenCalls(ACCOUNT, REGION, { [old]: days(14) });
    const v2 = await local.addLaunchTemplateVersion(ACCOUNT, REGION, id, { ...DATA, ImageId: 'ami-03cf127a', UserData: Buffer.from('#!/bin/sh\ncurl 169.254.169.254/latest/meta-data/\n').toString('base64') });
    await (await local.ec2(ACCOUNT, REGION)).send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: id, DefaultVersion: String(v2) }));
    const { report } = await sweep(policy(), { apply: true });
    expect(report.templates[0]?.verdict).not.toBe('fix');
  });

  it('R2: a $Latest with IMDS disabled is not re-copied with the endpoint ENABLED', async () => {
    const local = aws();
    await local.createOrganization([]);
    const id = await local.createLaunchTemplate(ACCOUNT, REGION, 'app', DATA);
    await local.addLaunchTemplateVersion(ACCOUNT, REGION, id, { ...DATA, MetadataOptions: { HttpEndpoint: 'disabled' } });
    const [i = ''] = await local.runFromTemplate(ACCOUNT, REGION, id, { version: '1' });
    await local.putNoTokenCalls(ACCOUNT, REGION, { [i]: days(14) });
    const { report } = await sweep(policy(), { apply: true });
    const t = await template(local, id);
    const latest = await version(local, id, String(t?.LatestVersionNumber));
    // $Latest differs from $Default: nothing is created, and IMDS stays off in $Latest.
    expect(report.templates[0]).toMatchObject({ verdict: 'blocked', createdVersions: [] });
    expect(latest?.LaunchTemplateData?.MetadataOptions?.HttpEndpoint).toBe('disabled');
  });

  it('R3: a failure after the $Default copy leaves $Latest launching $Default data; the report must say so', async () => {
    const local = aws();
    await local.createOrganization([]);
    const id = await local.createLaunchTemplate(ACCOUNT, REGION, 'app', DATA);
    await local.addLaunchTemplateVersion(ACCOUNT, REGION, id, { ...DATA, InstanceType: 'm5.4xlarge' });
    await new AutoScalingClient({ region: REGION }).send(
      new CreateAutoScalingGroupCommand({ AutoScalingGroupName: 'g', MinSize: 0, MaxSize: 1, DesiredCapacity: 0, LaunchTemplate: { LaunchTemplateId: id, Version: '$Latest' }, AvailabilityZones: [`${REGION}a`] }),
    );
    const [i = ''] = await local.runFromTemplate(ACCOUNT, REGION, id, { version: '2' });
    await local.putNoTokenCalls(ACCOUNT, REGION, { [i]: days(14) });
    let n = 0;
    const failSecond = intercept('failSecond', (c) => {
      if (c.operation === 'CreateLaunchTemplateVersion' && ++n === 2) throw awsError('RequestLimitExceeded', 'throttled');
    });
    const { report } = await sweep(policy(), { apply: true, customizeClient: failSecond });
    const t = await template(local, id);
    const latest = await version(local, id, '$Latest');
    // $Latest differs from $Default: the template is not changed at all, so a $Latest group keeps launching m5.4xlarge.
    expect(t).toMatchObject({ LatestVersionNumber: 2, DefaultVersionNumber: 1 });
    expect(latest?.LaunchTemplateData?.InstanceType).toBe('m5.4xlarge');
    expect(report.templates[0]).toMatchObject({ verdict: 'blocked', createdVersions: [] });
    expect(report.templates[0]?.reason).toMatch(/\$Latest \(version 2\) differs from \$Default/);
  });

  it('R5: a template no running instance comes from is changed by default with no evidence at all', async () => {
    const local = aws();
    await local.createOrganization([]);
    const id = await local.createLaunchTemplate(ACCOUNT, REGION, 'nightly-batch', DATA);
    const { report } = await sweep(policy(), { apply: true });
    expect(report.templates.find((t) => t.launchTemplateId === id)?.changed).toBe(false);
  });

  it('R6: a default put back by a person/IaC is re-fixed every run (a fight loop, not a finding)', async () => {
    const local = aws();
    await local.createOrganization([]);
    const id = await local.createLaunchTemplate(ACCOUNT, REGION, 'tf-managed', DATA);
    const ec2 = await local.ec2(ACCOUNT, REGION);
    for (let run = 0; run < 3; run += 1) {
      await sweep(policy(), { apply: true });
      await ec2.send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: id, DefaultVersion: '1' })); // terraform apply
    }
    const t = await template(local, id);
    expect(t?.LatestVersionNumber).toBeLessThanOrEqual(2);
  });
});

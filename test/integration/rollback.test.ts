import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { ENFORCED_AT_FIELD } from '../../functions/findings/asff.ts';
import { TAG_ENFORCED_AT, TAG_REVERTED_AT } from '../../functions/domain/tags.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { readFindings } from '../../local/findings.ts';
import { startSlackReceiver } from '../../local/slack-receiver.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { awsError, intercept } from '../support/sdk-middleware.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';

/**
 * Two instances this tool enforced two days ago (its tags and its Security Hub findings record
 * it), one of whose workloads has since had v1 calls rejected.
 */
const seedBrokenWorkload = async () => {
  const local = aws();
  await local.createOrganization([]);
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
  const [broken = '', healthy = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: 2 });
  await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [broken]: days(14), [healthy]: days(14) }, twoDaysAgo);
  const { report } = await sweep(testPolicy({ scope: { regions: [REGION] } }), { apply: true, now: () => twoDaysAgo });
  expect(report.summary.changed).toBe(2);
  await local.putRejectedCalls(MANAGEMENT_ACCOUNT, REGION, { [broken]: [40, 17], [healthy]: days(2) });
  return { local, broken, healthy, enforcedAt: twoDaysAgo.toISOString() };
};

/** What a member-account user who may tag the instance can write. */
const tagAsMemberUser = async (local: ReturnType<typeof aws>, instanceId: string, tags: Record<string, string>) => {
  const ec2 = await local.ec2(MANAGEMENT_ACCOUNT, REGION);
  await ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }));
};

describe('rollback watch', () => {
  it('alerts on an enforced instance whose v1 calls are now rejected, and changes nothing by default', async () => {
    const { local, broken, healthy } = await seedBrokenWorkload();

    const { report, lines } = await sweep(testPolicy({ scope: { regions: [REGION] } }), { apply: true });

    expect(report.instances.find((i) => i.instanceId === broken)).toMatchObject({
      verdict: 'v1-rejected',
      changed: false,
      reason: expect.stringMatching(/^57 IMDSv1 calls rejected .*alert only/),
    });
    expect(report.instances.find((i) => i.instanceId === healthy)?.verdict).toBe('compliant');
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, broken)).toMatchObject({ httpTokens: 'required' });
    expect(lines.some((l) => l.message === 'decision' && l.instanceId === broken && l.verdict === 'v1-rejected')).toBe(true);
  });

  it('reverts to optional and tags why when the policy says rollback: revert', async () => {
    const { local, broken, healthy } = await seedBrokenWorkload();

    const { report } = await sweep(testPolicy({ scope: { regions: [REGION] }, rollback: 'revert' }), { apply: true });

    expect(report.instances.find((i) => i.instanceId === broken)).toMatchObject({ verdict: 'v1-rejected', changed: true });
    const now = await readInstance(local, MANAGEMENT_ACCOUNT, REGION, broken);
    expect(now.httpTokens).toBe('optional');
    expect(now.tags[TAG_REVERTED_AT]).toBeDefined();
    expect(now.tags['imds-remediator:reason']).toMatch(/57 IMDSv1 calls rejected/);
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, healthy)).toMatchObject({ httpTokens: 'required' });
  });

  it('reports that the revert is impossible when the account enforces IMDSv2', async () => {
    const { local, broken } = await seedBrokenWorkload();
    // EC2 answers this way when the account-level default sets HttpTokensEnforced.
    const customizeClient = intercept('accountEnforcesImdsv2', ({ operation, input }) => {
      if (operation === 'ModifyInstanceMetadataOptions' && input.HttpTokens === 'optional') {
        throw awsError('UnsupportedOperation', 'The account enforces IMDSv2: HttpTokens cannot be set to optional.');
      }
    });

    const { report } = await sweep(testPolicy({ scope: { regions: [REGION] }, rollback: 'revert' }), { apply: true, customizeClient });

    expect(report.instances.find((i) => i.instanceId === broken)).toMatchObject({
      verdict: 'v1-rejected',
      changed: false,
      reason: expect.stringMatching(/the revert is impossible: this account enforces IMDSv2 for every instance \(HttpTokensEnforced\)/),
    });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, broken)).toMatchObject({ httpTokens: 'required' });
  });
});

describe('rollback watch: rejected calls that begin late are a probe, never a revert', () => {
  it('keeps IMDSv1 closed and raises a CRITICAL possible SSRF probe when rejected calls begin 10 days after enforcement', async () => {
    const local = aws();
    await local.createOrganization([]);
    const enforcedAt = new Date(Date.now() - 10 * 86_400_000).toISOString();
    const [probed = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', tags: { [TAG_ENFORCED_AT]: enforcedAt } });
    // Ten quiet days, then three token-less requests today: an SSRF probe looks exactly like this.
    await local.putRejectedCalls(MANAGEMENT_ACCOUNT, REGION, { [probed]: [3, ...days(10)] });

    const { report } = await sweep(testPolicy({ scope: { regions: [REGION] }, rollback: 'revert' }), { apply: true });

    expect(report.instances[0]).toMatchObject({ instanceId: probed, verdict: 'possible-ssrf-probe', changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, probed)).toMatchObject({ httpTokens: 'required' });
    const finding = (await readFindings(local, MANAGEMENT_ACCOUNT, REGION)).find((f) => f.Resources?.[0]?.Id?.endsWith(probed));
    expect(finding?.Severity?.Label).toBe('CRITICAL');
  });
});

describe('rollback watch: it re-opens IMDSv1 only on a record it can trust', () => {
  const revert = testPolicy({ scope: { regions: [REGION] }, rollback: 'revert' });

  it('does not revert an instance whose enforced-at tag a member user wrote, even after a sweep has recorded its finding', async () => {
    const local = aws();
    await local.createOrganization([]);
    // Required from launch by its owner, never enforced by the tool; the tag is forged.
    const forged = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const [victim = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', tags: { [TAG_ENFORCED_AT]: forged } });
    await sweep(revert, { apply: true });
    // An SSRF probe, or the forger, makes v1 calls that are rejected.
    await local.putRejectedCalls(MANAGEMENT_ACCOUNT, REGION, { [victim]: [30] });

    const { report, lines } = await sweep(revert, { apply: true });

    expect(report.instances.find((i) => i.instanceId === victim)).toMatchObject({
      verdict: 'v1-rejected',
      changed: false,
      reason: expect.stringMatching(/not reverted, alert only: the tool's Security Hub finding records no enforcement of this instance/),
    });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, victim)).toMatchObject({ httpTokens: 'required' });
    const finding = (await readFindings(local, MANAGEMENT_ACCOUNT, REGION)).find((f) => f.Resources?.[0]?.Id?.endsWith(victim));
    expect(finding?.ProductFields).not.toHaveProperty(ENFORCED_AT_FIELD);
    expect(lines.some((l) => l.message === 'revert withheld' && l.instanceId === victim)).toBe(true);
  });

  it('does not revert an instance the tool enforced once its enforced-at tag was rewritten', async () => {
    const { local, broken, enforcedAt } = await seedBrokenWorkload();
    // A day before the real enforcement: the rejections still begin within revertWithinDays of
    // the forged time, so only the two records disagreeing keeps IMDSv1 closed.
    await tagAsMemberUser(local, broken, { [TAG_ENFORCED_AT]: new Date(Date.parse(enforcedAt) - 86_400_000).toISOString() });

    const { report } = await sweep(revert, { apply: true });

    expect(report.instances.find((i) => i.instanceId === broken)).toMatchObject({
      verdict: 'v1-rejected',
      changed: false,
      reason: expect.stringContaining(`is not the enforcement the tool's Security Hub finding records (${enforcedAt})`),
    });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, broken)).toMatchObject({ httpTokens: 'required' });
  });

  it('reverts when the tag and the Security Hub finding of the tool record the same enforcement', async () => {
    const { local, broken, enforcedAt } = await seedBrokenWorkload();
    const finding = (await readFindings(local, MANAGEMENT_ACCOUNT, REGION)).find((f) => f.Resources?.[0]?.Id?.endsWith(broken));
    expect(finding?.ProductFields?.[ENFORCED_AT_FIELD]).toBe(enforcedAt);
    expect((await readInstance(local, MANAGEMENT_ACCOUNT, REGION, broken)).tags[TAG_ENFORCED_AT]).toBe(enforcedAt);

    const { report } = await sweep(revert, { apply: true });

    expect(report.instances.find((i) => i.instanceId === broken)).toMatchObject({ verdict: 'v1-rejected', changed: true });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, broken)).toMatchObject({ httpTokens: 'optional' });
  });
});

describe('rollback watch: findings and alerts', () => {
  it('raises a CRITICAL finding and a Slack alert naming the instance and the rejected count', async () => {
    const { local, broken } = await seedBrokenWorkload();
    const slack = await startSlackReceiver();
    try {
      const { report } = await sweep(testPolicy({ scope: { regions: [REGION] } }), { apply: true, env: { SLACK_WEBHOOK_URL: slack.url() } });

      const finding = (await readFindings(local, MANAGEMENT_ACCOUNT, REGION)).find((f) => f.Resources?.[0]?.Id?.endsWith(broken));
      // Compliance says whether IMDSv1 is allowed, and it is not (tokens are still required);
      // the broken workload is the CRITICAL severity, the title and the Slack alert.
      // An update carries its severity in FindingProviderFields (the top-level field is the customer's).
      expect(finding).toMatchObject({ FindingProviderFields: { Severity: { Label: 'CRITICAL' } }, Compliance: { Status: 'PASSED' } });
      expect(finding?.Title).toMatch(/IMDSv1 calls rejected .* a workload is failing/);
      expect(report.notifications?.alerts).toMatchObject({ status: 'sent' });
      const alert = slack.received.map((r) => (r.body as { text: string }).text).find((t) => t.startsWith('IMDSv1 calls rejected'));
      expect(alert).toMatch(new RegExp(`^IMDSv1 calls rejected on ${broken} .*57 IMDSv1 calls rejected`));
    } finally {
      await slack.close();
    }
  });
});

describe('after a revert', () => {
  it('the next sweep does not enforce the reverted instance again', async () => {
    const { local, broken } = await seedBrokenWorkload();
    const policy = testPolicy({ scope: { regions: [REGION] }, rollback: 'revert' });
    await sweep(policy, { apply: true });
    // The days it was enforced show no MetadataNoToken: its v1 calls were rejected, not served.
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, REGION, { [broken]: days(14) });

    const { report } = await sweep(policy, { apply: true });

    expect(report.instances.find((i) => i.instanceId === broken)).toMatchObject({ verdict: 'blocked-v1-in-use', changed: false });
    expect(await readInstance(local, MANAGEMENT_ACCOUNT, REGION, broken)).toMatchObject({ httpTokens: 'optional' });
  });
});

import { describe, expect, it } from 'vitest';
import { TAG_ENFORCED_AT, TAG_REVERTED_AT } from '../../functions/domain/tags.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { readFindings } from '../../local/findings.ts';
import { startSlackReceiver } from '../../local/slack-receiver.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { awsError, intercept } from '../support/sdk-middleware.ts';
import { readInstance, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';

/** An instance this tool enforced two days ago, whose workload has since had v1 calls rejected. */
const seedBrokenWorkload = async () => {
  const local = aws();
  await local.createOrganization([]);
  const enforcedAt = new Date(Date.now() - 2 * 86_400_000).toISOString();
  const [broken = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', tags: { [TAG_ENFORCED_AT]: enforcedAt } });
  const [healthy = ''] = await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { httpTokens: 'required', tags: { [TAG_ENFORCED_AT]: enforcedAt } });
  await local.putRejectedCalls(MANAGEMENT_ACCOUNT, REGION, { [broken]: [40, 17], [healthy]: days(2) });
  return { local, broken, healthy };
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

describe('rollback watch: findings and alerts', () => {
  it('raises a CRITICAL finding and a Slack alert naming the instance and the rejected count', async () => {
    const { local, broken } = await seedBrokenWorkload();
    const slack = await startSlackReceiver();
    try {
      const { report } = await sweep(testPolicy({ scope: { regions: [REGION] } }), { apply: true, env: { SLACK_WEBHOOK_URL: slack.url() } });

      const finding = (await readFindings(local, MANAGEMENT_ACCOUNT, REGION)).find((f) => f.Resources?.[0]?.Id?.endsWith(broken));
      // Compliance says whether IMDSv1 is allowed, and it is not (tokens are still required);
      // the broken workload is the CRITICAL severity, the title and the Slack alert.
      expect(finding).toMatchObject({ Severity: { Label: 'CRITICAL' }, Compliance: { Status: 'PASSED' } });
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

// `imds-remediator doctor` against moto: an organization seeded from the project's own templates
// passes, and each prerequisite taken away in turn is reported, with its fix, as exit 1.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTrailCommand, PutEventSelectorsCommand, StopLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { DeleteEventBusCommand, DeleteRuleCommand, DisableRuleCommand, EventBridgeClient, PutPermissionCommand } from '@aws-sdk/client-eventbridge';
import { DisableSecurityHubCommand } from '@aws-sdk/client-securityhub';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runDoctorCommand } from '../../functions/app/doctor/command.ts';
import type { ComposeOptions } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { DEFAULT_EVENT_BUS, MEMBER_EVENT_RULE_NAME } from '../../functions/doctor/prerequisites.ts';
import type { CheckName, CheckStatus, DoctorReport } from '../../functions/doctor/report.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { MANAGEMENT_ACCOUNT, type LocalAws } from '../../local/local-aws.ts';
import { motoEnvironment } from '../../local/moto-server.ts';
import { endpoint, useMoto } from '../support/moto.ts';
import { centralBusFromTemplate, clientsIn, HOME_REGION, ORG_TRAIL, regionalTrail, seedReadyOrganization } from '../support/ready-organization.ts';
import { awsError, intercept } from '../support/sdk-middleware.ts';
import { testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();

const doctor = async (customizeClient?: ComposeOptions['customizeClient']) => {
  const printed: string[] = [];
  const code = await runDoctorCommand(
    { json: true, concurrency: 4, eventBus: undefined },
    parsePolicy(testPolicy()),
    readEnvironment(process.env),
    { stdout: (text) => void printed.push(text) },
    customizeClient,
  );
  return { code, report: JSON.parse(printed.join('')) as DoctorReport };
};

/** Runs the installed command the way a user does, in a child process. */
const cli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['bin/imds-remediator.js', ...args], { env: { ...process.env, ...motoEnvironment(endpoint()) } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

const policyFile = async () => {
  const path = join(await mkdtemp(join(tmpdir(), 'imds-doctor-')), 'policy.yaml');
  await writeFile(path, stringify(testPolicy()));
  return path;
};

type Where = 'management' | 'alpha' | null;
interface Expected {
  check: CheckName;
  account: Where;
  region: string | null;
  status: CheckStatus;
  fix: RegExp;
}
interface Case {
  name: string;
  /** Takes one prerequisite away; may return SDK middleware for faults moto cannot stage. */
  breakIt: (aws: LocalAws, who: { alpha: string; organizationId: string }) => Promise<ComposeOptions['customizeClient'] | void>;
  expected: Expected[];
}

const EU = 'eu-west-1';

const CASES: Case[] = [
  {
    name: 'Security Hub is not enabled in one account-region',
    breakIt: async (local, { alpha }) => void (await (await clientsIn(local, alpha, EU)).securityHub.send(new DisableSecurityHubCommand({}))),
    expected: [{ check: 'security-hub', account: 'alpha', region: EU, status: 'missing', fix: /^aws securityhub enable-security-hub --region eu-west-1, in account \d{12}/ }],
  },
  {
    name: 'no trail covers the region',
    breakIt: async (local, { alpha }) =>
      void (await (await clientsIn(local, alpha, EU)).cloudTrail.send(new DeleteTrailCommand({ Name: regionalTrail(EU) }))),
    expected: [{ check: 'cloudtrail', account: 'alpha', region: EU, status: 'missing', fix: /aws cloudtrail create-trail .*--is-multi-region-trail --is-organization-trail/ }],
  },
  {
    name: 'the trail that covers the region is not logging',
    breakIt: async (local, { alpha }) =>
      void (await (await clientsIn(local, alpha, EU)).cloudTrail.send(new StopLoggingCommand({ Name: regionalTrail(EU) }))),
    expected: [
      { check: 'cloudtrail', account: 'alpha', region: EU, status: 'missing', fix: /^aws cloudtrail start-logging --name arn:aws:cloudtrail:eu-west-1:\d{12}:trail\/imds-trail-eu-west-1 --region eu-west-1/ },
    ],
  },
  {
    name: "the management account's multi-region trail, seen from eu-west-1 as a shadow, is not logging",
    breakIt: async (local) =>
      void (await (await clientsIn(local, MANAGEMENT_ACCOUNT, HOME_REGION)).cloudTrail.send(new StopLoggingCommand({ Name: ORG_TRAIL }))),
    expected: [EU, 'us-east-1'].map((region) => ({
      check: 'cloudtrail' as const,
      account: 'management' as const,
      region,
      status: 'missing' as const,
      // The fix is run where the trail lives, whichever region saw it.
      fix: new RegExp(`^aws cloudtrail start-logging --name arn:aws:cloudtrail:us-east-1:123456789012:trail/${ORG_TRAIL} --region us-east-1`),
    })),
  },
  {
    name: 'the trail logs only read events (event selectors)',
    breakIt: async (local, { alpha }) =>
      void (await (await clientsIn(local, alpha, EU)).cloudTrail.send(
        new PutEventSelectorsCommand({ TrailName: regionalTrail(EU), EventSelectors: [{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: true }] }),
      )),
    expected: [{ check: 'cloudtrail', account: 'alpha', region: EU, status: 'missing', fix: /aws cloudtrail put-event-selectors --trail-name arn:aws:cloudtrail:eu-west-1:\d{12}:trail\/imds-trail-eu-west-1/ }],
  },
  {
    name: 'the trail logs only read events (advanced event selectors)',
    breakIt: async (local, { alpha }) =>
      void (await (await clientsIn(local, alpha, EU)).cloudTrail.send(
        new PutEventSelectorsCommand({
          TrailName: regionalTrail(EU),
          AdvancedEventSelectors: [{ Name: 'reads', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'readOnly', Equals: ['true'] }] }],
        }),
      )),
    expected: [{ check: 'cloudtrail', account: 'alpha', region: EU, status: 'missing', fix: /aws cloudtrail put-event-selectors/ }],
  },
  {
    name: 'the forwarding rule does not exist',
    breakIt: async (local, { alpha }) => void (await (await clientsIn(local, alpha, EU)).events.send(new DeleteRuleCommand({ Name: MEMBER_EVENT_RULE_NAME }))),
    expected: [
      { check: 'event-rule', account: 'alpha', region: EU, status: 'missing', fix: /^deploy infra\/member-events\.yml to account \d{12} in eu-west-1: .*Accounts=\d{12}.*--regions eu-west-1/ },
    ],
  },
  {
    name: 'the forwarding rule is disabled',
    breakIt: async (local, { alpha }) => void (await (await clientsIn(local, alpha, EU)).events.send(new DisableRuleCommand({ Name: MEMBER_EVENT_RULE_NAME }))),
    expected: [
      { check: 'event-rule', account: 'alpha', region: EU, status: 'missing', fix: /^aws events enable-rule --name imds-remediator-forward-instance-events --region eu-west-1, in account \d{12}/ },
    ],
  },
  {
    name: 'the member role cannot be assumed',
    // moto lets anyone assume any role: STS refuses here, as AWS does when the role is missing.
    breakIt: async (_local, { alpha }) =>
      intercept('denyAssumeRole', ({ operation, input }) => {
        if (operation === 'AssumeRole' && String(input.RoleArn).includes(`::${alpha}:`)) {
          throw awsError('AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${String(input.RoleArn)}`);
        }
      }),
    expected: [{ check: 'member-role', account: 'alpha', region: null, status: 'missing', fix: /^deploy infra\/member-role\.yml to account \d{12}/ }],
  },
  {
    name: 'the caller cannot list the organization',
    breakIt: async () =>
      intercept('denyListAccounts', ({ operation }) => {
        if (operation === 'ListAccounts') throw awsError('AccessDeniedException', 'You don’t have permissions to access this resource.');
      }),
    expected: [{ check: 'organization', account: null, region: null, status: 'missing', fix: /delegated administrator .*organizations:ListAccounts/ }],
  },
  {
    name: 'the central bus does not exist',
    breakIt: async () => void (await new EventBridgeClient({ region: HOME_REGION }).send(new DeleteEventBusCommand({ Name: DEFAULT_EVENT_BUS }))),
    expected: [{ check: 'central-bus', account: null, region: null, status: 'missing', fix: /^deploy the central stack \(npx osls deploy --stage prod / }],
  },
  {
    name: "the central bus's policy admits another organization",
    breakIt: async () => {
      const other = centralBusFromTemplate('prod', 'o-someoneelse1');
      await new EventBridgeClient({ region: HOME_REGION }).send(new PutPermissionCommand({ EventBusName: other.name, Policy: other.policy }));
    },
    expected: [{ check: 'central-bus', account: null, region: null, status: 'missing', fix: /npx osls deploy --stage prod --param="orgId=o-\w+"/ }],
  },
];

describe('imds-remediator doctor', () => {
  it('passes, exit 0, an organization set up as the README deploys it', async () => {
    const { organizationId, bus } = await seedReadyOrganization(aws());

    const { code, report } = await doctor();

    expect(bus.name).toBe(DEFAULT_EVENT_BUS); // the default names the bus the central stack creates for prod
    expect(report.results.filter((r) => r.status !== 'ok')).toEqual([]);
    expect(code).toBe(0);
    expect(report).toMatchObject({
      ok: true,
      organizationId,
      // 3 accounts × 2 regions; per account-region Security Hub, a trail and the rule.
      summary: {
        checks: 23,
        ok: 23,
        accounts: 3,
        accountRegions: 6,
        byCheck: {
          organization: { ok: 1 },
          'central-bus': { ok: 1 },
          'member-role': { ok: 3 },
          'security-hub': { ok: 6 },
          cloudtrail: { ok: 6 },
          'event-rule': { ok: 6 },
        },
      },
    });
  });

  // Tuples and %s keep each case's whole name: vitest shortens a $name to 40 characters.
  it.each(CASES.map((c) => [c.name, c] as const))('reports what is missing, with its fix, and exits 1: %s', async (_name, { breakIt, expected }) => {
    const local = aws();
    const { members, organizationId } = await seedReadyOrganization(local);
    const alpha = members[0] ?? '';
    const customizeClient = (await breakIt(local, { alpha, organizationId })) ?? undefined;

    const { code, report } = await doctor(customizeClient);

    const account = (who: Where) => (who === 'alpha' ? alpha : who === 'management' ? MANAGEMENT_ACCOUNT : null);
    const problems = report.results.filter((r) => r.status !== 'ok');
    expect(problems).toEqual(
      expected.map((e) => ({ check: e.check, accountId: account(e.account), region: e.region, status: e.status, detail: expect.any(String), fix: expect.stringMatching(e.fix) })),
    );
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
  });

  it('checks no region of an account whose role cannot be assumed, and every region of the others', async () => {
    const local = aws();
    const { members } = await seedReadyOrganization(local);
    const [alpha = '', beta = ''] = members;
    const denyAlpha = intercept('denyAssumeRole', ({ operation, input }) => {
      if (operation === 'AssumeRole' && String(input.RoleArn).includes(`::${alpha}:`)) throw awsError('AccessDenied', 'not authorized');
    });

    const { report } = await doctor(denyAlpha);

    const regionsChecked = (accountId: string) => new Set(report.results.filter((r) => r.accountId === accountId && r.region).map((r) => r.region));
    expect(regionsChecked(alpha)).toEqual(new Set());
    expect(regionsChecked(beta)).toEqual(new Set(['us-east-1', EU]));
    expect(report.summary).toMatchObject({ accountRegions: 4, missing: 1, error: 0 });
  });

  it('reports a check it cannot read as unreadable, naming the error, without stopping the other checks', async () => {
    await seedReadyOrganization(aws());
    let denied = 0;
    // Two DescribeRule calls are refused, as in an account whose member role predates doctor.
    const denyDescribeRule = intercept('denyDescribeRule', ({ operation }) => {
      if (operation === 'DescribeRule' && denied++ < 2) throw awsError('AccessDeniedException', 'User is not authorized to perform: events:DescribeRule');
    });

    const { code, report } = await doctor(denyDescribeRule);

    const problems = report.results.filter((r) => r.status !== 'ok');
    expect(problems).toHaveLength(2);
    for (const p of problems) {
      expect(p).toMatchObject({
        check: 'event-rule',
        status: 'error',
        detail: expect.stringContaining('AccessDeniedException'),
        fix: expect.stringMatching(/infra\/member-role\.yml/),
      });
    }
    expect(report.summary).toMatchObject({ checks: 23, ok: 21, missing: 0, error: 2 });
    expect(code).toBe(1);
  });

  it('prints a table naming each missing piece and its fix (exit 1), and refuses bad input (exit 2)', async () => {
    const local = aws();
    const { members } = await seedReadyOrganization(local);
    const policy = await policyFile();

    const ready = await cli(['doctor', '--policy', policy]);
    await (await clientsIn(local, members[1] ?? '', EU)).securityHub.send(new DisableSecurityHubCommand({}));
    const broken = await cli(['doctor', '--policy', policy]);
    const badBus = await cli(['doctor', '--policy', policy, '--event-bus', 'not a bus!']);

    expect(ready.code).toBe(0);
    expect(ready.stdout).toMatch(/^DOCTOR: o-\w+, 3 account\(s\), 6 account-region\(s\): 23 check\(s\), 23 in place, 0 missing, 0 unreadable/);
    expect(ready.stdout).toContain('Everything the sweep and the event path need is in place.');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/Not in place \(1\):\n {2}MISSING {2}security-hub {2}\d{12} {2}eu-west-1 {2}Security Hub is not enabled.*\n {4}fix: aws securityhub enable-security-hub --region eu-west-1/);
    expect(badBus.code).toBe(2);
    expect(badBus.stderr).toContain("--event-bus must be an event bus name or ARN, not 'not a bus!'");
  });
});

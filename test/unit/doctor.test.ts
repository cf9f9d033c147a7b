import { describe, expect, it } from 'vitest';
import type { EventSelectors } from '../../functions/doctor/ports.ts';
import { busAdmitsOrganization, isRuleEnabled, logsManagementWrites } from '../../functions/doctor/prerequisites.ts';
import { renderDoctor } from '../../functions/doctor/render.ts';
import { buildDoctorReport, type CheckResult } from '../../functions/doctor/report.ts';

const ORG = 'o-exampleorg1';
const row = (overrides: Partial<CheckResult>): CheckResult => ({
  check: 'security-hub',
  accountId: '111111111111',
  region: 'eu-west-1',
  status: 'ok',
  detail: 'Security Hub is enabled',
  ...overrides,
});

describe('the doctor report', () => {
  it('is ok only when every check is, and counts each check by status', () => {
    const results = [
      row({}),
      row({ region: 'us-east-1', status: 'missing', detail: 'Security Hub is not enabled', fix: 'aws securityhub enable-security-hub' }),
      row({ check: 'cloudtrail', status: 'error', detail: 'cannot read: AccessDeniedException', fix: 'update the member role' }),
      row({ check: 'organization', accountId: null, region: null, detail: 'caller lists 3 accounts' }),
    ];

    const report = buildDoctorReport(results, { organizationId: ORG, accounts: 1, accountRegions: 2 });

    expect(report.ok).toBe(false);
    expect(report.summary).toMatchObject({ checks: 4, ok: 2, missing: 1, error: 1, accounts: 1, accountRegions: 2 });
    expect(report.summary.byCheck['security-hub']).toEqual({ ok: 1, missing: 1, error: 0 });
    expect(report.summary.byCheck.cloudtrail).toEqual({ ok: 0, missing: 0, error: 1 });
    // The organization first, then by account, region and check.
    expect(report.results.map((r) => `${r.check} ${r.region ?? '-'}`)).toEqual(['organization -', 'security-hub eu-west-1', 'cloudtrail eu-west-1', 'security-hub us-east-1']);
    expect(buildDoctorReport([row({})], { organizationId: ORG, accounts: 1, accountRegions: 1 }).ok).toBe(true);
    // A check that could not be read is not a check that passed.
    expect(buildDoctorReport([row({ status: 'error', fix: 'update the member role' })], { organizationId: ORG, accounts: 1, accountRegions: 1 }).ok).toBe(false);
  });

  it('renders the counts per check, then each check not in place with its fix, and never the ones that pass', () => {
    const report = buildDoctorReport(
      [
        row({ accountId: '222222222222', detail: 'enabled here' }),
        row({ check: 'event-rule', status: 'missing', detail: 'no rule imds-remediator-forward-instance-events', fix: 'deploy infra/member-events.yml' }),
      ],
      { organizationId: ORG, accounts: 2, accountRegions: 2 },
    );

    const text = renderDoctor(report);

    expect(text).toMatch(/^DOCTOR: o-exampleorg1, 2 account\(s\), 2 account-region\(s\): 2 check\(s\), 1 in place, 1 missing, 0 unreadable\n/);
    expect(text).toMatch(/\nevent-rule +0 +1 +0\n/);
    expect(text).toContain(
      'Not in place (1):\n  MISSING  event-rule  111111111111  eu-west-1  no rule imds-remediator-forward-instance-events\n    fix: deploy infra/member-events.yml',
    );
    expect(text).not.toContain('enabled here');
    expect(renderDoctor(buildDoctorReport([row({})], { organizationId: ORG, accounts: 1, accountRegions: 1 }))).toContain('Everything the sweep and the event path need is in place.');
  });
});

const basic = (readWriteType: string | undefined, includeManagementEvents?: boolean): EventSelectors => ({
  basic: [{ readWriteType, includeManagementEvents, excludeManagementEventSources: [] }],
  advanced: [],
});
const advanced = (...selectors: EventSelectors['advanced']): EventSelectors => ({ basic: [], advanced: selectors });
const management = { field: 'eventCategory', equals: ['Management'] };

describe('a trail logs what the event path needs', () => {
  it.each<[string, EventSelectors, boolean]>([
    ['no custom selectors (every management event)', { basic: [], advanced: [] }, true],
    ['ReadWriteType All', basic('All'), true],
    ['ReadWriteType WriteOnly', basic('WriteOnly'), true],
    ['ReadWriteType ReadOnly', basic('ReadOnly'), false],
    ['management events excluded', basic('All', false), false],
    ['advanced: every management event', advanced([management]), true],
    ['advanced: management writes', advanced([management, { field: 'readOnly', equals: ['false'] }]), true],
    ['advanced: management reads only', advanced([management, { field: 'readOnly', equals: ['true'] }]), false],
    ['advanced: everything but EC2', advanced([management, { field: 'eventSource', notEquals: ['ec2.amazonaws.com'] }]), false],
    ['advanced: only EC2, by prefix', advanced([management, { field: 'eventSource', startsWith: ['ec2.'] }]), true],
    ['advanced: data events only', advanced([{ field: 'eventCategory', equals: ['Data'] }, { field: 'resources.type', equals: ['AWS::S3::Object'] }]), false],
    ['advanced: reads in one selector, writes in another', advanced([management, { field: 'readOnly', equals: ['true'] }], [management, { field: 'readOnly', notEquals: ['true'] }]), true],
  ])('%s → %s', (_name, selectors, logged) => {
    expect(logsManagementWrites(selectors)).toBe(logged);
  });
});

const policy = (statement: Record<string, unknown>) => JSON.stringify({ Version: '2012-10-17', Statement: [statement] });
const orgStatement = {
  Sid: 'PutEventsFromOrganization',
  Effect: 'Allow',
  Principal: '*',
  Action: 'events:PutEvents',
  Resource: 'arn:aws:events:us-east-1:111111111111:event-bus/imds-remediator-prod',
  Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG } },
};

describe('the central bus admits the organization', () => {
  it.each<[string, string | undefined, boolean]>([
    ['the statement infra/central/events.yml writes', policy(orgStatement), true],
    ['principal written as { AWS: "*" }, condition key in another case', policy({ ...orgStatement, Principal: { AWS: '*' }, Condition: { StringEquals: { 'aws:principalorgid': [ORG] } } }), true],
    ['another organization', policy({ ...orgStatement, Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-someoneelse1' } } }), false],
    ['no organization condition', policy({ ...orgStatement, Condition: undefined }), false],
    ['a Deny', policy({ ...orgStatement, Effect: 'Deny' }), false],
    ['another action', policy({ ...orgStatement, Action: 'events:DescribeRule' }), false],
    ['no policy', undefined, false],
    ['text that is not JSON', '{not json', false],
  ])('%s → %s', (_name, text, admitted) => {
    expect(busAdmitsOrganization(text, ORG)).toBe(admitted);
  });

  it('counts a rule as enabled in either enabled state', () => {
    expect(['ENABLED', 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS', 'DISABLED'].map(isRuleEnabled)).toEqual([true, true, false]);
  });
});

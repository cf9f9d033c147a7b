// The read-only preflight: asks the organization, each in-scope account and each in-scope
// account-region whether what the sweep and the event path need is there. Every failure is a
// row of the report, never an exception: one account's answer cannot stop another's check.
import pLimit from 'p-limit';
import { describeError, ScopeFailure } from '../domain/errors.ts';
import type { Shard } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import type { Caller } from '../sweep/ports.ts';
import { resolveAccountScope } from '../sweep/account-scope.ts';
import type { AccountRegionPorts, DoctorWorld, Trail } from './ports.ts';
import { busAdmitsOrganization, FIX, isRuleEnabled, logsManagementWrites, MEMBER_EVENT_RULE_NAME } from './prerequisites.ts';
import { buildDoctorReport, type CheckName, type CheckResult, type DoctorReport } from './report.ts';

export interface DoctorOptions {
  /** The central bus, by name (looked up in the home region) or ARN. */
  eventBus: string;
  concurrency: number;
}

const ok = (check: CheckName, where: Partial<Shard>, detail: string): CheckResult => ({
  check,
  accountId: where.accountId ?? null,
  region: where.region ?? null,
  status: 'ok',
  detail,
});

const notOk = (check: CheckName, where: Partial<Shard>, status: 'missing' | 'error', detail: string, fix: string): CheckResult => ({
  check,
  accountId: where.accountId ?? null,
  region: where.region ?? null,
  status,
  detail,
  fix,
});

const regionOfArn = (arn: string) => (arn.startsWith('arn:') ? arn.split(':')[3] : undefined);

const checkCentralBus = async (world: DoctorWorld, eventBus: string): Promise<{ result: CheckResult; organizationId: string | null }> => {
  let organizationId: string;
  let bus;
  try {
    organizationId = await world.organizationId();
    bus = await world.eventBuses(regionOfArn(eventBus) ?? world.homeRegion).describeBus(eventBus);
  } catch (error) {
    return { result: notOk('central-bus', {}, 'error', `cannot read ${eventBus}: ${describeError(error)}`, FIX.unreadableBus), organizationId: null };
  }
  if (!bus) return { result: notOk('central-bus', {}, 'missing', `no event bus ${eventBus}`, FIX.noBus(eventBus, organizationId)), organizationId };
  const result = busAdmitsOrganization(bus.policy, organizationId)
    ? ok('central-bus', {}, `${bus.arn} admits events:PutEvents from ${organizationId}`)
    : notOk(
        'central-bus',
        {},
        'missing',
        `${bus.arn} has no policy statement allowing events:PutEvents on condition aws:PrincipalOrgID = ${organizationId}`,
        FIX.busPolicy(eventBus, organizationId),
      );
  return { result, organizationId };
};

type TrailVerdict = { trail: Trail; outcome: 'ok' | 'not-logging' | 'no-writes' } | { trail: Trail; outcome: 'error'; message: string };

const judgeTrail = async (ports: AccountRegionPorts, trail: Trail): Promise<TrailVerdict> => {
  try {
    if (!(await ports.trails.isLogging(trail))) return { trail, outcome: 'not-logging' };
    return { trail, outcome: logsManagementWrites(await ports.trails.eventSelectors(trail)) ? 'ok' : 'no-writes' };
  } catch (error) {
    return { trail, outcome: 'error', message: describeError(error) };
  }
};

const describeVerdict = (v: TrailVerdict) => {
  const what = { ok: 'logging management writes', 'not-logging': 'not logging', 'no-writes': 'logs no management write events' };
  return `trail ${v.trail.name}: ${v.outcome === 'error' ? `unreadable (${v.message})` : what[v.outcome]}`;
};

const checkTrails = async (ports: AccountRegionPorts, shard: Shard, ownAccount: boolean): Promise<CheckResult> => {
  // DescribeTrails lists shadow copies too; only a trail of this region or a multi-region one records here.
  const covering = (await ports.trails.listTrails()).filter((t) => t.homeRegion === shard.region || t.multiRegion);
  if (covering.length === 0) {
    return notOk('cloudtrail', shard, 'missing', `no trail covers ${shard.region}`, FIX.noTrail(shard.region));
  }
  const verdicts: TrailVerdict[] = [];
  for (const trail of covering) {
    const verdict = await judgeTrail(ports, trail);
    if (verdict.outcome === 'ok') return ok('cloudtrail', shard, describeVerdict(verdict));
    verdicts.push(verdict);
  }
  const detail = verdicts.map(describeVerdict).join('; ');
  // An unreadable trail may be the good one: say so rather than call the trail missing.
  if (verdicts.some((v) => v.outcome === 'error')) return notOk('cloudtrail', shard, 'error', detail, FIX.unreadable(shard.accountId, ownAccount));
  const first = verdicts[0];
  const fix =
    first?.outcome === 'not-logging'
      ? FIX.trailNotLogging(first.trail.arn, first.trail.homeRegion)
      : FIX.trailWithoutWrites(first?.trail.arn ?? '', first?.trail.homeRegion ?? shard.region);
  return notOk('cloudtrail', shard, 'missing', detail, fix);
};

const checkSecurityHub = async (ports: AccountRegionPorts, shard: Shard): Promise<CheckResult> =>
  (await ports.securityHub.hubEnabled())
    ? ok('security-hub', shard, 'Security Hub is enabled')
    : notOk('security-hub', shard, 'missing', 'Security Hub is not enabled: findings cannot be imported here', FIX.securityHub(shard.accountId, shard.region));

const checkRule = async (ports: AccountRegionPorts, shard: Shard): Promise<CheckResult> => {
  const state = await ports.rules.ruleState(MEMBER_EVENT_RULE_NAME);
  if (state === undefined) {
    return notOk('event-rule', shard, 'missing', `no rule ${MEMBER_EVENT_RULE_NAME} on the default bus`, FIX.noRule(shard.accountId, shard.region));
  }
  return isRuleEnabled(state)
    ? ok('event-rule', shard, `${MEMBER_EVENT_RULE_NAME} is ${state}`)
    : notOk('event-rule', shard, 'missing', `${MEMBER_EVENT_RULE_NAME} is ${state}`, FIX.ruleDisabled(shard.accountId, shard.region));
};

/** Runs one check; an exception becomes an unreadable row naming the error. */
const guarded = async (check: CheckName, shard: Shard, ownAccount: boolean, run: () => Promise<CheckResult>): Promise<CheckResult> => {
  try {
    return await run();
  } catch (error) {
    return notOk(check, shard, 'error', `cannot read: ${describeError(error)}`, FIX.unreadable(shard.accountId, ownAccount));
  }
};

interface ReachableAccount {
  accountId: string;
  regions: string[];
}

/** The organization part: the caller lists the accounts, and the scope is resolved as the sweep resolves it. */
const listScope = async (world: DoctorWorld, policy: Policy) => {
  const org = world.organization;
  const caller: Caller = await org.caller();
  const accounts = await org.listActiveAccounts();
  const scope = await resolveAccountScope(org, policy);
  return { caller, accounts, inScope: accounts.filter((a) => scope.outOfScope(a.id) === undefined) };
};

export const runDoctor = async (world: DoctorWorld, policy: Policy, options: DoctorOptions): Promise<DoctorReport> => {
  const results: CheckResult[] = [];
  const [bus, listed] = await Promise.all([
    checkCentralBus(world, options.eventBus),
    listScope(world, policy).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
  ]);
  results.push(bus.result);
  if ('error' in listed) {
    results.push(notOk('organization', {}, 'missing', `cannot list the organization: ${describeError(listed.error)}`, FIX.listOrganization));
    return buildDoctorReport(results, { organizationId: bus.organizationId, accounts: 0, accountRegions: 0 });
  }
  const { caller, accounts, inScope } = listed.value;
  results.push(ok('organization', {}, `caller ${caller.accountId} lists ${accounts.length} active account(s), ${inScope.length} in scope`));

  const active = new Set(accounts.map((a) => a.id));
  for (const accountId of policy.scope.accounts.filter((id) => !active.has(id))) {
    results.push(notOk('member-role', { accountId }, 'missing', 'scope.accounts names an account that is not ACTIVE in the organization', FIX.inactiveScopeAccount));
  }

  const limit = pLimit(options.concurrency);
  const wanted = policy.scope.regions;
  const reached = await Promise.all(
    inScope.map((account) =>
      limit(async (): Promise<ReachableAccount | undefined> => {
        const where = { accountId: account.id };
        const own = account.id === caller.accountId;
        try {
          const enabled = await world.accountEc2(account.id).enabledRegions();
          // The sweep's own rule (planSweep): the policy's regions that the account has enabled, or all of them.
          const regions = (wanted.length > 0 ? wanted.filter((r) => enabled.includes(r)) : enabled).sort();
          const how = own ? "the caller's own account, read with the caller's credentials" : `assumed ${policy.memberRoleName}`;
          results.push(ok('member-role', where, `${how}; ${regions.length} region(s) in scope`));
          return { accountId: account.id, regions };
        } catch (error) {
          // A refused AssumeRole is the role missing or not trusting the caller; anything else
          // (DescribeRegions throttled past its retries) leaves the question open.
          const status = error instanceof ScopeFailure ? 'missing' : 'error';
          results.push(notOk('member-role', where, status, describeError(error), FIX.memberRole(account.id)));
          return undefined;
        }
      }),
    ),
  );

  const shards = reached.flatMap((a) => (a ? a.regions.map((region) => ({ accountId: a.accountId, region })) : []));
  const perShard = await Promise.all(
    shards.map((shard) =>
      limit(async () => {
        const ports = world.accountRegion(shard);
        const own = shard.accountId === caller.accountId;
        return Promise.all([
          guarded('security-hub', shard, own, () => checkSecurityHub(ports, shard)),
          guarded('cloudtrail', shard, own, () => checkTrails(ports, shard, own)),
          guarded('event-rule', shard, own, () => checkRule(ports, shard)),
        ]);
      }),
    ),
  );
  results.push(...perShard.flat());
  return buildDoctorReport(results, { organizationId: bus.organizationId, accounts: inScope.length, accountRegions: shards.length });
};

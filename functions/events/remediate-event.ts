// The event path: one CloudTrail event (a launch, or IMDSv1 re-opened) is an input to the
// same pipeline as the sweep, for the instances it names. State is always re-read from EC2;
// the event is trusted only for ids.
import { isFreshLaunch, type DecideContext, type Siblings } from '../domain/decide.ts';
import { describeError, LeaseBusyError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import type { InstanceResult, Shard } from '../domain/model.ts';
import { hopLimitCeiling, type Policy } from '../domain/policy.ts';
import { mayChange } from '../domain/verdicts.ts';
import { deliverAll } from '../notify/deliver.ts';
import { autoFixMessage, blockedMessage, sweepSummaryMessage } from '../notify/slack-message.ts';
import type { ApplyOptions } from '../pipeline/apply.ts';
import { takeLease, type LeaseOptions } from '../pipeline/lease.ts';
import { runPipeline, type ShardResult } from '../pipeline/run.ts';
import { observeSiblings } from '../pipeline/siblings.ts';
import { aggregate, type SweepReport } from '../report/aggregate.ts';
import { digestShard } from '../report/digest.ts';
import { resolveAccountScope } from '../sweep/account-scope.ts';
import type { World } from '../sweep/ports.ts';
import { parseInstanceEvent, UntrustedEventError, type InstanceEvent } from './instance-event.ts';
import { activeAccountsOf } from './membership.ts';

export interface EventOutcome {
  status: 'handled' | 'ignored';
  /** Why the event was ignored. */
  reason?: string;
  report: SweepReport;
}

export interface EventOptions {
  log: Log;
  now?: Date;
  verify?: ApplyOptions['verify'];
  /** Security Hub findings (default: as the policy says); false is `--no-findings`. */
  findings?: boolean;
  /** False keeps a deployment in plan mode from changing anything (default true; the policy's mode still rules). */
  apply?: boolean;
  /** When the last modify must have been sent (epoch ms): what does not fit is left to the scheduled sweep. */
  deadline?: number | undefined;
  /** The account-region's lease, held while the event's instances are read and changed (the deployed function); undefined: none (the CLI). */
  lease?: LeaseOptions | undefined;
}

/** An event launching more instances than this is told to Slack as one summary, not per instance. */
const MAX_INSTANCE_MESSAGES = 10;

const reportOf = (mode: SweepReport['mode'], shards: ShardResult[], findingsEnabled: boolean, policy: Policy) =>
  aggregate({
    mode,
    plan: { accounts: shards.length, shards: shards.length, errors: [], errorCount: 0 },
    digests: shards.map((s) => digestShard(s, { hopCeiling: hopLimitCeiling(policy) })),
    findingsEnabled,
  });

/** The ids the event names that EC2 no longer lists: terminated, or never launched. */
const goneResults = (shard: Shard, event: InstanceEvent, found: Set<string>, policy: Policy): InstanceResult[] =>
  event.instanceIds
    .filter((id) => !found.has(id))
    .map((id) => ({
      ...shard,
      instanceId: id,
      verdict: 'gone',
      reason: `terminated (or never existed) by the time ${event.kind === 'launch' ? 'RunInstances' : 'the drift'} was handled`,
      noTokenCalls: null,
      observedDays: null,
      hopLimit: policy.hopLimit.default,
      changed: false,
    }));

/** The account-region's lease; throws LeaseBusyError, which the platform retries, when another run keeps it. */
const leaseFor = async (shard: Shard, options: LeaseOptions, log: Log, eventId: string | undefined) => {
  const attempt = await takeLease(shard, options, log);
  if (attempt.status === 'held') return attempt.lease;
  const { holder, expiresAt, waitedMs } = attempt.busy;
  const reason = `another run (${holder}) holds ${shard.accountId}/${shard.region} until ${expiresAt}, and did not let go in ${Math.round(waitedMs / 1000)} s`;
  log.warn('event deferred', { ...shard, eventId, reason });
  throw new LeaseBusyError(`${reason}: the event is to be retried`);
};

/** Reads the event; an untrusted one is logged with its reasons before it is rejected. */
const readEvent = (raw: unknown, log: Log) => {
  try {
    return parseInstanceEvent(raw);
  } catch (error) {
    if (error instanceof UntrustedEventError) log.warn('event rejected', { problems: error.problems });
    throw error;
  }
};

export const remediateEvent = async (world: World, policy: Policy, raw: unknown, options: EventOptions): Promise<EventOutcome> => {
  const { log } = options;
  const event = readEvent(raw, log);
  const ignore = (reason: string): EventOutcome => {
    log.info('event ignored', { accountId: event.accountId, region: event.region, reason });
    return { status: 'ignored', reason, report: reportOf('plan', [], false, policy).report };
  };
  if (event.kind === 'ignored') return ignore(event.reason);
  // Checked whatever the scope says: an empty scope means every account of the organization,
  // never any account an event names. Nothing is read in the account before this.
  if (!(await activeAccountsOf(world.organization).has(event.accountId))) {
    const problems = [`account: ${event.accountId} is not an ACTIVE account of the organization`];
    log.warn('event rejected', { accountId: event.accountId, region: event.region, problems });
    throw new UntrustedEventError(problems);
  }
  if (policy.scope.regions.length > 0 && !policy.scope.regions.includes(event.region)) {
    return ignore(`region ${event.region} is not in the policy scope (scope.regions)`);
  }
  const scope = await resolveAccountScope(world.organization, policy);
  const outOfScope = scope.outOfScope(event.accountId);
  if (outOfScope) return ignore(outOfScope);

  const shard: Shard = { accountId: event.accountId, region: event.region };
  const apply = mayChange(policy, options.apply ?? true);
  const now = options.now ?? new Date();
  const ports = world.shard(shard);
  const recordsFindings = (options.findings ?? true) && policy.findings.enabled;

  // Only a run that may change instances takes the lease: it holds the account-region from the
  // read of the instances to the last change, so that no sweep shard changes it meanwhile.
  const lease = apply && options.lease ? await leaseFor(shard, options.lease, log, event.eventId) : undefined;
  let facts;
  let result;
  try {
    try {
      facts = await ports.ec2.describeInstances(event.instanceIds);
    } catch (error) {
      // A valid event whose instances cannot be read is thrown back, so that the platform retries it and then dead-letters it.
      log.error('event failed', { ...shard, eventId: event.eventId, reason: describeError(error) });
      throw error;
    }
    // Siblings stand in for the history of an instance launched minutes ago (an older one named
    // by a replayed event has a history of its own, which the sweep's rules judge), and their
    // IMDSv1 use blocks re-enforcing a re-open.
    const siblings = await observeSiblings(ports, event.kind === 'launch' ? facts.filter((f) => isFreshLaunch(f, now)) : facts, policy, now);
    const none: Siblings = { group: undefined, evidence: [] };
    const accountExemption = scope.exemption(event.accountId);
    const context = (f: { instanceId: string }): DecideContext => ({
      now,
      accountExemption,
      event:
        event.kind === 'launch'
          ? { kind: 'launch', actor: event.actor, siblings: siblings.get(f.instanceId) ?? none }
          : { kind: 'drift', actor: event.actor, siblings: siblings.get(f.instanceId) ?? none },
    });
    result = await runPipeline(ports, shard, facts, {
      policy,
      apply,
      now,
      log,
      verify: options.verify,
      deadline: options.deadline,
      // The sweep decides every instance again, so nothing an event leaves is lost.
      deferredTo: 'the scheduled sweep',
      context,
      findings: recordsFindings ? { partition: (await world.organization.caller()).partition, archiveMissing: false } : undefined,
      readRejectedOfAll: event.kind === 'drift',
      logAttributes: { trigger: event.kind, actor: event.actor, eventId: event.eventId },
    });
  } finally {
    await lease?.release();
  }
  const gone = goneResults(shard, event, new Set(facts.map((f) => f.instanceId)), policy);
  for (const r of gone) log.info('decision', { ...shard, instanceId: r.instanceId, verdict: r.verdict, reason: r.reason, trigger: event.kind, eventId: event.eventId });
  const results = [...result.instances, ...gone];
  const { report, overview } = reportOf(apply ? 'apply' : 'plan', [{ ...result, instances: results }], recordsFindings, policy);

  const worthSaying = results.filter((r) => r.changed || r.verdict === 'blocked-v1-in-use');
  const messages =
    worthSaying.length > MAX_INSTANCE_MESSAGES
      ? [sweepSummaryMessage(report, overview, { regions: [shard.region] })]
      : worthSaying.map((r) => (r.changed ? autoFixMessage(r) : blockedMessage(r)));
  const slack = messages.length > 0 ? await deliverAll(world.notifier, messages, log, `${event.kind} event`) : ({ status: 'not-configured' } as const);
  return { status: 'handled', report: { ...report, instances: results, errors: result.errors, notifications: { slack } } };
};

import type { Log, ShardPorts, World } from '../ports.ts';
import { act } from '../pipeline/apply.ts';
import { resolveAccountScope } from '../sweep/account-scope.ts';
import { decide, isWatchedForRejections, needsEvidence, type LaunchContext } from '../domain/decide.ts';
import { describeError } from '../domain/errors.ts';
import { parseInstanceEvent, type InstanceEvent } from './instance-event.ts';
import type { Evidence, InstanceFacts, InstanceResult, ScopeError, Shard, SweepReport } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import { deliverAll } from '../notify/deliver.ts';
import { noFindings, recordFindings, type Observed } from '../findings/record.ts';
import { autoFixMessage, blockedMessage, sweepSummaryMessage } from '../notify/slack-message.ts';
import { buildReport } from '../sweep/report.ts';
import { TAG_ASG, TAG_LAUNCH_TEMPLATE } from '../domain/tags.ts';
import { evidenceWindow, instanceResult, type ShardOptions } from '../sweep/shard.ts';


export interface EventOutcome {
  status: 'handled' | 'ignored';
  /** Why the event was ignored. */
  reason?: string;
  report: SweepReport;
}

export interface EventOptions {
  log: Log;
  now?: Date;
  verify?: ShardOptions['verify'];
  /** Security Hub findings (default: as the policy says); false is `--no-findings`. */
  findings?: boolean;
  /** False keeps a deployment in plan mode from changing anything (default true; the policy's mode still rules). */
  apply?: boolean;
}

/** An event launching more instances than this is told to Slack as one summary, not per instance. */
const MAX_INSTANCE_MESSAGES = 10;

/** Siblings share the Auto Scaling group; without one, the launch template. Not the AMI. */
const siblingKey = (facts: InstanceFacts): { tag: string; value: string; label: string } | undefined => {
  const asg = facts.tags[TAG_ASG];
  if (asg) return { tag: TAG_ASG, value: asg, label: `Auto Scaling group ${asg}` };
  const template = facts.tags[TAG_LAUNCH_TEMPLATE];
  if (template) return { tag: TAG_LAUNCH_TEMPLATE, value: template, label: `launch template ${template}` };
  return undefined;
};

/** One DescribeInstances per tag kind and one GetMetricData per 500 siblings, whatever the event's size. */
const launchContexts = async (
  ports: ShardPorts,
  event: InstanceEvent,
  launched: InstanceFacts[],
  policy: Policy,
  now: Date,
): Promise<Map<string, LaunchContext>> => {
  const contexts = new Map<string, LaunchContext>();
  const keyed = launched.filter(needsEvidence).map((facts) => ({ facts, key: siblingKey(facts) }));
  const valuesByTag = new Map<string, Set<string>>();
  for (const { key } of keyed) if (key) valuesByTag.set(key.tag, (valuesByTag.get(key.tag) ?? new Set()).add(key.value));

  const own = new Set(event.instanceIds);
  const siblings: InstanceFacts[] = [];
  for (const [tag, values] of valuesByTag) {
    siblings.push(...(await ports.ec2.findInstancesByTag(tag, [...values])).filter((s) => !own.has(s.instanceId)));
  }
  const unique = [...new Map(siblings.map((s) => [s.instanceId, s])).values()];
  const evidence =
    unique.length > 0 ? await ports.metrics.countNoTokenCalls(unique.map((s) => s.instanceId), evidenceWindow(policy, now)) : new Map<string, Evidence>();

  for (const { facts, key } of keyed) {
    const usingV1 = key
      ? unique
          .filter((s) => s.tags[key.tag] === key.value)
          .map((s) => ({ instanceId: s.instanceId, noTokenCalls: evidence.get(s.instanceId)?.noTokenCalls ?? 0 }))
          .filter((s) => s.noTokenCalls > 0)
          .sort((a, b) => b.noTokenCalls - a.noTokenCalls)
      : [];
    contexts.set(facts.instanceId, { kind: 'launch', actor: event.actor, siblingGroup: key?.label, siblingsUsingV1: usingV1 });
  }
  return contexts;
};

const emptyReport = (): SweepReport => buildReport('plan', { shards: [], errors: [], accounts: 0 }, []);

/**
 * The event path: the same decide → act as the sweep, for the instances one CloudTrail
 * event names. State is always re-read from EC2; the event is trusted only for ids.
 */
export const remediateEvent = async (world: World, policy: Policy, raw: unknown, options: EventOptions): Promise<EventOutcome> => {
  const { log } = options;
  const event = parseInstanceEvent(raw);
  const ignore = (reason: string): EventOutcome => {
    log.info('event ignored', { accountId: event.accountId, region: event.region, reason });
    return { status: 'ignored', reason, report: emptyReport() };
  };
  if (event.kind === 'ignored') return ignore(event.reason);
  if (policy.scope.regions.length > 0 && !policy.scope.regions.includes(event.region)) {
    return ignore(`region ${event.region} is not in the policy scope (scope.regions)`);
  }
  const scope = await resolveAccountScope(world.organization, policy);
  const outOfScope = scope.outOfScope(event.accountId);
  if (outOfScope) return ignore(outOfScope);

  const shard: Shard = { accountId: event.accountId, region: event.region };
  const apply = (options.apply ?? true) && policy.mode === 'enforce';
  const now = options.now ?? new Date();
  const ports = world.shard(shard);
  const errors: ScopeError[] = [];
  let observed: Observed[];
  let results: InstanceResult[];
  try {
    ({ observed, results } = await decideEventInstances(ports, event, policy, scope.exemption(event.accountId), now, log));
  } catch (error) {
    // A valid event that fails is thrown back, so that the platform retries it and then dead-letters it.
    log.error('event failed', { ...shard, eventId: event.eventId, reason: describeError(error) });
    throw error;
  }
  if (apply) {
    const targets = results.filter((r) => r.verdict === 'enforce' || r.verdict === 'fix-hop-limit');
    if (targets.length > 0) await act(ports, shard, targets, { apply, now, log, verify: options.verify });
  }
  const recordsFindings = (options.findings ?? true) && policy.findings.enabled;
  const findings =
    recordsFindings && ports.findings
      ? await recordFindings(ports.findings, shard, observed, policy, { partition: (await world.organization.caller()).partition, now, log })
      : undefined;
  const plan = { shards: [shard], errors: [], accounts: 1 };
  const report = buildReport(apply ? 'apply' : 'plan', plan, [{ shard, instances: results, errors, findings }]);
  report.findings = { enabled: recordsFindings, ...(findings ?? noFindings()) };

  const worthSaying = results.filter((r) => r.changed || r.verdict === 'blocked-v1-in-use');
  const messages =
    worthSaying.length > MAX_INSTANCE_MESSAGES
      ? [sweepSummaryMessage(report, { regions: [shard.region], findings: report.findings })]
      : worthSaying.map((r) => (r.changed ? autoFixMessage(r) : blockedMessage(r)));
  report.notifications = { slack: messages.length > 0 ? await deliverAll(world.notifier, messages, log, `${event.kind} event`) : { status: 'not-configured' } };
  return { status: 'handled', report };
};

const decideEventInstances = async (
  ports: ShardPorts,
  event: InstanceEvent,
  policy: Policy,
  accountExemption: string | undefined,
  now: Date,
  log: Log,
): Promise<{ observed: Observed[]; results: InstanceResult[] }> => {
  const shard: Shard = { accountId: event.accountId, region: event.region };
  const facts = await ports.ec2.describeInstances(event.instanceIds);
  const found = new Set(facts.map((f) => f.instanceId));

  let contexts = new Map<string, LaunchContext>();
  let ownEvidence = new Map<string, Evidence>();
  if (event.kind === 'launch') {
    contexts = await launchContexts(ports, event, facts, policy, now);
  } else {
    const needing = facts.filter(needsEvidence).map((f) => f.instanceId);
    const window = evidenceWindow(policy, now);
    if (needing.length > 0) ownEvidence = await ports.metrics.countNoTokenCalls(needing, window);
    // Re-opened after we enforced it: calls refused meanwhile prove v1 use that MetadataNoToken cannot show.
    const watched = facts.filter(isWatchedForRejections).map((f) => f.instanceId);
    if (watched.length > 0) {
      for (const [id, rejectedCalls] of await ports.metrics.countRejectedCalls(watched, window)) {
        ownEvidence.set(id, { noTokenCalls: 0, observedDays: 0, ...ownEvidence.get(id), rejectedCalls });
      }
    }
  }

  const observed = facts.map((f): Observed => {
    const context = {
      now,
      accountExemption,
      event: event.kind === 'launch' ? contexts.get(f.instanceId) : { kind: 'drift' as const, actor: event.actor },
    };
    const seen = ownEvidence.get(f.instanceId);
    return { facts: f, result: instanceResult(shard, f, decide(f, seen, policy, context), seen) };
  });
  const results = observed.map((o) => o.result);
  for (const id of event.instanceIds.filter((i) => !found.has(i))) {
    results.push({
      ...shard,
      instanceId: id,
      verdict: 'gone',
      reason: `terminated (or never existed) by the time ${event.kind === 'launch' ? 'RunInstances' : 'the drift'} was handled`,
      noTokenCalls: null,
      observedDays: null,
      hopLimit: policy.hopLimit.default,
      changed: false,
    });
  }
  for (const r of results) {
    log.info('decision', { ...shard, instanceId: r.instanceId, verdict: r.verdict, reason: r.reason, trigger: event.kind, actor: event.actor, eventId: event.eventId });
  }
  return { observed, results };
};

// The one per-instance pipeline, shared by the sweep and the event path:
// observe → decide → apply → record. A sweep hands it every instance of an account-region;
// an event hands it the instances it names, with the event as context.
import { decide, type DecideContext } from '../domain/decide.ts';
import type { Log } from '../domain/log.ts';
import type { Evidence, InstanceFacts, InstanceResult, Observation, ScopeError, Shard } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import type { LaunchConfigurationResult, TemplateResult } from '../domain/templates.ts';
import { isChange, isRevert } from '../domain/verdicts.ts';
import { unconfirmedEnforcements } from '../findings/confirm-enforcement.ts';
import { recordFindings, type FindingsOutcome } from '../findings/record.ts';
import { apply, settle, type ApplyOptions, type ApplyOutcome } from './apply.ts';
import { observe } from './observe.ts';
import type { ShardPorts } from './ports.ts';

/** What the pipeline did in one account-region. */
export interface ShardResult {
  shard: Shard;
  instances: InstanceResult[];
  errors: ScopeError[];
  /** Undefined when findings were not recorded. */
  findings?: FindingsOutcome | undefined;
  /** The account-region's launch templates, in the sweep's last piece (sweep/templates.ts); undefined elsewhere. */
  templates?: TemplateResult[] | undefined;
  launchConfigurations?: LaunchConfigurationResult[] | undefined;
}

export interface PipelineOptions extends Omit<ApplyOptions, 'maxChanges'> {
  policy: Policy;
  /** Change instances (the one switch, computed by mayChange()); false is a plan. */
  apply: boolean;
  /** The decision's context for each instance: the account's exemption, the event if any. */
  context: (facts: InstanceFacts) => DecideContext;
  /**
   * Read MetadataNoTokenRejected for every instance, not only those this tool enforced: an
   * instance just re-opened required tokens until then, and its refused calls are its IMDSv1 use.
   */
  readRejectedOfAll?: boolean;
  /** Record Security Hub findings (needs ports.findings); undefined: do not. */
  findings?: { partition: string; archiveMissing: boolean } | undefined;
  /** Added to every decision's log line (an event's trigger, actor and id). */
  logAttributes?: Record<string, unknown>;
}

/** The decision as a result the later steps and the report understand. */
export const instanceResult = (shard: Shard, observation: Observation, decision: ReturnType<typeof decide>): InstanceResult => {
  const noToken: Evidence['noToken'] = observation.evidence.noToken;
  const read = noToken.status === 'read' ? noToken.value : undefined;
  return {
    accountId: shard.accountId,
    region: shard.region,
    instanceId: observation.facts.instanceId,
    verdict: decision.verdict,
    reason: decision.reason,
    // No datapoints is unknown, not zero calls: a report, a finding or Slack must not say "0 calls".
    noTokenCalls: read && read.observedDays > 0 ? read.calls : null,
    observedDays: read?.observedDays ?? null,
    hopLimit: decision.hopLimit,
    changed: false,
  };
};

/** Runs the pipeline over instances whose facts were just read. Never throws for one instance. */
export const runPipeline = async (
  ports: ShardPorts,
  shard: Shard,
  instances: InstanceFacts[],
  options: PipelineOptions,
): Promise<ShardResult> => {
  const { log, policy } = options;
  const { observations, errors } = await observe(ports.metrics, shard, instances, {
    policy,
    now: options.now,
    log,
    readRejectedOfAll: options.readRejectedOfAll,
  });

  const decided = observations.map((o) => instanceResult(shard, o, decide(o.facts, o.evidence, policy, options.context(o.facts))));
  for (const r of decided) {
    log.info('decision', {
      ...shard,
      instanceId: r.instanceId,
      verdict: r.verdict,
      reason: r.reason,
      mode: options.apply ? 'apply' : 'plan',
      ...options.logAttributes,
    });
  }

  const stopped = new Set(instances.filter((f) => f.state === 'stopped' || f.state === 'stopping').map((f) => f.instanceId));
  const wanted = options.apply
    ? decided
        .filter((r, n) => isChange(r.verdict, policy, observations[n]?.facts.tags ?? {}))
        .map((r) => ({ ...r, stopped: stopped.has(r.instanceId) }))
    : [];
  // A revert re-opens IMDSv1: it is made only where the tool's own finding confirms the tag it rests on.
  const reverting = new Set(wanted.filter((t) => isRevert(t.verdict)).map((t) => t.instanceId));
  const withheld = await unconfirmedEnforcements(ports.findings, shard, instances.filter((f) => reverting.has(f.instanceId)), log);
  const targets = wanted.filter((t) => !withheld.has(t.instanceId));
  const applied: Map<string, ApplyOutcome> =
    targets.length > 0 ? await apply(ports.ec2, shard, targets, { ...options, maxChanges: policy.maxChangesPerAccountRegion }) : new Map();
  const outcomes = new Map([...applied, ...[...withheld].map(([id, note]): [string, ApplyOutcome] => [id, { status: 'kept', note }])]);
  const results = decided.map((r) => settle(r, outcomes.get(r.instanceId)));

  if (!ports.findings || !options.findings) return { shard, instances: results, errors };
  const records = observations.flatMap((o, n) => {
    const result = results[n];
    return result ? [{ facts: o.facts, result }] : [];
  });
  // Asked only about instances whose findings the listing did not explain: those EC2 no longer describes are gone.
  const confirmGone = async (ids: string[]) => {
    const alive = new Set((await ports.ec2.describeInstances(ids)).map((f) => f.instanceId));
    return ids.filter((id) => !alive.has(id));
  };
  const findings = await recordFindings(ports.findings, shard, records, policy, {
    partition: options.findings.partition,
    now: options.now,
    log,
    confirmGone: options.findings.archiveMissing ? confirmGone : undefined,
  });
  return { shard, instances: results, errors, findings };
};

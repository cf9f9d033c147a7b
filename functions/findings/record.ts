// The record step: one ASFF finding per instance into Security Hub, in the instance's own
// account and region. Shared by the sweep and the event-driven path.
import type { Log } from '../domain/log.ts';
import type { FindingsPort, FindingsQuery, ImportFailure } from './port.ts';
import { buildFinding, findingId, findingIdPrefix, GENERATOR_ID, isUnchangedPass, type AsffFinding, type ExistingFinding } from './asff.ts';
import { describeError } from '../domain/errors.ts';
import { isInstanceId } from '../domain/ids.ts';
import type { InstanceFacts, InstanceResult, MetadataOptions, Shard } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';

export interface InstanceRecord {
  facts: InstanceFacts;
  result: InstanceResult;
}

export interface FindingFailure {
  accountId: string;
  region: string;
  instanceId: string;
  findingId: string;
  errorCode: string;
  message: string;
}

export interface FindingsOutcome {
  imported: number;
  /** PASSED findings already in Security Hub with the same state: not imported again. */
  unchanged: number;
  failed: FindingFailure[];
}

export interface RecordOptions {
  partition: string;
  now: Date;
  log: Log;
  /**
   * A sweep: `observed` is every instance EC2 listed in the account-region. The ACTIVE
   * finding of any other instance is archived, but only for the ids this asks EC2 about
   * and EC2 confirms gone: a listing that came back empty or short by mistake must not
   * archive the findings of instances that still run (the FAILED ones of v1 users among them).
   */
  confirmGone?: ((instanceIds: string[]) => Promise<string[]>) | undefined;
}

/** This account-region's findings, as the findings port asks Security Hub for them. */
export const findingsQuery = (shard: Shard): FindingsQuery => ({
  accountId: shard.accountId,
  region: shard.region,
  generatorId: GENERATOR_ID,
  idPrefix: findingIdPrefix(shard),
});

/** The instance a finding of this account-region is about. */
export const instanceIdOf = (shard: Shard, findingId: string) => findingId.slice(findingIdPrefix(shard).length);

/** The ids EC2 confirms gone among those whose ACTIVE findings the listing did not explain; none when it cannot say. */
const confirmedGone = async (shard: Shard, candidates: ExistingFinding[], options: RecordOptions): Promise<Set<string>> => {
  const ids = candidates.map((e) => instanceIdOf(shard, e.id)).filter(isInstanceId);
  if (ids.length === 0 || !options.confirmGone) return new Set();
  try {
    return new Set(await options.confirmGone(ids));
  } catch (error) {
    options.log.warn('cannot confirm which instances are gone, no finding archived', { ...shard, candidates: ids.length, reason: describeError(error) });
    return new Set();
  }
};


/** The ARCHIVED finding of an instance EC2 no longer lists, from what its last finding recorded. */
const vanishedFinding = (shard: Shard, existing: ExistingFinding, policy: Policy, options: RecordOptions): AsffFinding | undefined => {
  const instanceId = instanceIdOf(shard, existing.id);
  if (!isInstanceId(instanceId)) return undefined;
  const last = existing.lastOptions;
  const metadata: MetadataOptions = {
    httpTokens: last?.httpTokens === 'required' ? 'required' : 'optional',
    httpEndpoint: last?.httpEndpoint === 'disabled' ? 'disabled' : 'enabled',
    hopLimit: last?.hopLimit ?? 1,
    state: 'applied',
  };
  const facts: InstanceFacts = { instanceId, state: 'terminated', launchTime: undefined, tags: {}, metadata, instanceProfileArn: undefined };
  const result: InstanceResult = {
    ...shard,
    instanceId,
    verdict: 'gone',
    reason: 'EC2 no longer lists it: terminated since an earlier run',
    noTokenCalls: null,
    observedDays: null,
    hopLimit: metadata.hopLimit,
    changed: false,
  };
  return buildFinding({ partition: options.partition, shard, facts, result, lookbackDays: policy.lookbackDays, minObservedDays: policy.minObservedDays, now: options.now, existing });
};

export const noFindings = (): FindingsOutcome => ({ imported: 0, unchanged: 0, failed: [] });

/** Never throws: what could not be imported (after one retry) is returned with its error code. */
export const recordFindings = async (
  port: FindingsPort,
  shard: Shard,
  observed: InstanceRecord[],
  policy: Policy,
  options: RecordOptions,
): Promise<FindingsOutcome> => {
  const { log } = options;
  if (observed.length === 0 && !options.confirmGone) return noFindings();
  const ids = observed.map((o) => findingId(shard, o.result.instanceId));

  let existing = new Map<string, ExistingFinding>();
  try {
    existing = await port.existing(findingsQuery(shard));
  } catch (error) {
    // Only the saving is lost: everything is imported.
    log.warn('cannot read existing findings, importing all', { ...shard, reason: describeError(error) });
  }

  const findings = observed.map((o) =>
    buildFinding({
      partition: options.partition,
      shard,
      facts: o.facts,
      result: o.result,
      lookbackDays: policy.lookbackDays,
      minObservedDays: policy.minObservedDays,
      now: options.now,
      existing: existing.get(findingId(shard, o.result.instanceId)),
    }),
  );
  const current = new Set(ids);
  const unexplained = [...existing.values()].filter((e) => !current.has(e.id) && e.recordState === 'ACTIVE');
  const gone = await confirmedGone(shard, unexplained, options);
  const vanished = unexplained
    .filter((e) => gone.has(instanceIdOf(shard, e.id)))
    .flatMap((e) => vanishedFinding(shard, e, policy, options) ?? []);
  if (vanished.length > 0) log.info('findings of vanished instances archived', { ...shard, count: vanished.length });
  if (unexplained.length > vanished.length) {
    log.warn('instances not listed but not confirmed gone: findings kept', { ...shard, count: unexplained.length - vanished.length });
  }
  const toSend = [...findings.filter((f) => !isUnchangedPass(f, existing.get(f.Id), options.now)), ...vanished];

  let failures: ImportFailure[] = toSend.length > 0 ? await port.importFindings(toSend) : [];
  if (failures.length > 0) {
    const failedIds = new Set(failures.map((f) => f.id));
    log.warn('findings not imported, retrying once', { ...shard, count: failedIds.size, errorCodes: [...new Set(failures.map((f) => f.errorCode))] });
    failures = await port.importFindings(toSend.filter((f) => failedIds.has(f.Id)));
  }

  const instanceOf = new Map([
    ...observed.map((o): [string, string] => [findingId(shard, o.result.instanceId), o.result.instanceId]),
    ...vanished.map((f): [string, string] => [f.Id, f.Id.slice(findingIdPrefix(shard).length)]),
  ]);
  const failed = failures.map((f) => ({
    ...shard,
    instanceId: instanceOf.get(f.id) ?? '',
    findingId: f.id,
    errorCode: f.errorCode,
    message: f.message,
  }));
  for (const f of failed) log.error('finding not imported', { ...shard, instanceId: f.instanceId, errorCode: f.errorCode, reason: f.message });
  const outcome = { imported: toSend.length - new Set(failures.map((f) => f.id)).size, unchanged: findings.length - (toSend.length - vanished.length), failed };
  log.info('findings recorded', { ...shard, imported: outcome.imported, unchanged: outcome.unchanged, failed: failed.length });
  return outcome;
};

export const addFindings = (total: FindingsOutcome, part: FindingsOutcome | undefined): FindingsOutcome =>
  part
    ? { imported: total.imported + part.imported, unchanged: total.unchanged + part.unchanged, failed: [...total.failed, ...part.failed] }
    : total;

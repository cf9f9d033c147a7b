// The record step: one ASFF finding per instance into Security Hub, in the instance's own
// account and region. Shared by the sweep and the event-driven path.
import type { FindingsPort, ImportFailure, Log } from '../ports.ts';
import { buildFinding, findingId, GENERATOR_ID, isUnchangedPass, type ExistingFinding } from './finding.ts';
import { describeError } from './errors.ts';
import type { InstanceFacts, InstanceResult, Shard } from './model.ts';
import type { Policy } from './policy.ts';

export interface Observed {
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
}

export const noFindings = (): FindingsOutcome => ({ imported: 0, unchanged: 0, failed: [] });

/** Never throws: what could not be imported (after one retry) is returned with its error code. */
export const recordFindings = async (
  port: FindingsPort,
  shard: Shard,
  observed: Observed[],
  policy: Policy,
  options: RecordOptions,
): Promise<FindingsOutcome> => {
  const { log } = options;
  if (observed.length === 0) return noFindings();
  const ids = observed.map((o) => findingId(shard, o.result.instanceId));

  let existing = new Map<string, ExistingFinding>();
  try {
    existing = await port.existing({ accountId: shard.accountId, generatorId: GENERATOR_ID, ids });
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
  const toSend = findings.filter((f) => !isUnchangedPass(f, existing.get(f.Id)));

  let failures: ImportFailure[] = toSend.length > 0 ? await port.importFindings(toSend) : [];
  if (failures.length > 0) {
    const failedIds = new Set(failures.map((f) => f.id));
    log.warn('findings not imported, retrying once', { ...shard, count: failedIds.size, errorCodes: [...new Set(failures.map((f) => f.errorCode))] });
    failures = await port.importFindings(toSend.filter((f) => failedIds.has(f.Id)));
  }

  const instanceOf = new Map(observed.map((o) => [findingId(shard, o.result.instanceId), o.result.instanceId]));
  const failed = failures.map((f) => ({
    ...shard,
    instanceId: instanceOf.get(f.id) ?? '',
    findingId: f.id,
    errorCode: f.errorCode,
    message: f.message,
  }));
  for (const f of failed) log.error('finding not imported', { ...shard, instanceId: f.instanceId, errorCode: f.errorCode, reason: f.message });
  const outcome = { imported: toSend.length - new Set(failures.map((f) => f.id)).size, unchanged: findings.length - toSend.length, failed };
  log.info('findings recorded', { ...shard, imported: outcome.imported, unchanged: outcome.unchanged, failed: failed.length });
  return outcome;
};

export const addFindings = (total: FindingsOutcome, part: FindingsOutcome | undefined): FindingsOutcome =>
  part
    ? { imported: total.imported + part.imported, unchanged: total.unchanged + part.unchanged, failed: [...total.failed, ...part.failed] }
    : total;

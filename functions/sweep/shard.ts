// One account-region of a sweep: every instance EC2 lists, through the one pipeline. The CLI
// runs it whole; a deployed shard runs it in pieces against its invocation's time and, when the
// time runs out, hands back where the next invocation starts (sweep/pieces.ts).
import { describeError, OutOfTimeError } from '../domain/errors.ts';
import type { ExistingFinding } from '../findings/asff.ts';
import type { FindingsPort } from '../findings/port.ts';
import { addFindings, findingsQuery, instanceIdOf, noFindings } from '../findings/record.ts';
import type { InstanceFacts, InstanceResult, ScopeError, Shard } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import { takeLease, type LeaseOptions } from '../pipeline/lease.ts';
import { MODIFY_METADATA_BUCKET, systemClock, TokenBucket } from '../domain/token-bucket.ts';
import type { ShardPorts } from '../pipeline/ports.ts';
import { runPipeline, type PipelineOptions, type ShardResult } from '../pipeline/run.ts';
import {
  AFTER_CHANGES_RESERVE_MS,
  compareIds,
  cutPieces,
  inRange,
  PIECE_MAX_CHANGES,
  PIECE_MAX_INSTANCES,
  pieceFits,
  type Piece,
  type PieceLimits,
} from './pieces.ts';
import type { PlannedShard } from './plan.ts';
import { sweepTemplates } from './templates.ts';

/** Where an invocation of a deployed shard stopped, for the next one. */
export interface ShardCursor {
  /** The last instance id reported (code-unit order): the next invocation starts after it. */
  after: string;
  /** Invocations of this shard so far in this run. */
  invocations: number;
}

export type ShardOptions = Omit<PipelineOptions, 'policy' | 'context' | 'findings' | 'logAttributes' | 'bucket' | 'readRejectedOfAll'> & {
  /** Record Security Hub findings (needs ports.findings); undefined: do not. */
  findings?: { partition: string } | undefined;
  /**
   * When this invocation must have finished its work (clock time). With it, the account-region
   * is cut into pieces and the invocation stops between them when the next would not fit; the
   * listing and the findings read stop at it too. Without it (the CLI), the whole account-region
   * is one piece and only `deadline` bounds the modifies.
   */
  endBy?: number | undefined;
  /** Where an earlier invocation of this run stopped; undefined: from the first instance. */
  cursor?: ShardCursor | undefined;
  /** The size of a piece (tests and operators may make it smaller). */
  pieceLimits?: Partial<PieceLimits> | undefined;
  /**
   * The account-region's lease (the deployed sweep), taken only when this run may change
   * instances, and held while this invocation reads, decides and changes them; undefined: none
   * (the CLI). Each invocation of a shard swept in pieces takes it anew.
   */
  lease?: LeaseOptions | undefined;
};

/** What one invocation did, and where the next one starts (undefined: the account-region is done). */
export interface ShardProgress extends ShardResult {
  next: ShardCursor | undefined;
}

/** The findings port of one piece: the invocation's one read of what is there, cut to the piece's ids. */
const pieceFindings = (
  port: FindingsPort,
  shard: Shard,
  existing: Map<string, ExistingFinding> | { failed: unknown },
  after: string | undefined,
  upTo: string | undefined,
): FindingsPort => ({
  existing: async () => {
    if (!(existing instanceof Map)) throw existing.failed;
    return new Map([...existing].filter(([id]) => inRange(instanceIdOf(shard, id), after, upTo)));
  },
  importFindings: (findings) => port.importFindings(findings),
});

const failedShard = (where: Shard, message: string, options: Pick<ShardOptions, 'log'>): ShardProgress => {
  options.log.error('shard failed', { ...where, reason: message });
  return { shard: where, instances: [], errors: [{ ...where, message }], next: undefined };
};

/** One account-region, or the next part of it, once the lease (if any) is held. */
const sweepHeldShard = async (ports: ShardPorts, shard: PlannedShard, policy: Policy, options: Omit<ShardOptions, 'lease'>): Promise<ShardProgress> => {
  const { log, endBy, cursor } = options;
  const clock = options.clock ?? systemClock;
  const where: Shard = { accountId: shard.accountId, region: shard.region };
  // The listing and the findings read leave the first piece at least its reserve.
  const setupTimeUp = endBy === undefined ? undefined : () => clock.now() >= endBy - AFTER_CHANGES_RESERVE_MS;

  let listed: InstanceFacts[];
  try {
    listed = await ports.ec2.listInstances(setupTimeUp);
  } catch (error) {
    return failedShard(where, `cannot list instances: ${describeError(error)}`, options);
  }
  const after = cursor?.after;
  const instances = listed.filter((f) => after === undefined || compareIds(f.instanceId, after) > 0).sort((a, b) => compareIds(a.instanceId, b.instanceId));

  // One read of the findings already there, shared by the pieces: each takes its own ids.
  const recording = ports.findings && options.findings ? { port: ports.findings, ...options.findings } : undefined;
  let existing: Map<string, ExistingFinding> | { failed: unknown } = new Map();
  if (recording) {
    try {
      existing = await recording.port.existing(findingsQuery(where), setupTimeUp);
    } catch (error) {
      if (error instanceof OutOfTimeError) {
        return failedShard(where, `cannot read the existing findings in this invocation's time: ${describeError(error)}`, options);
      }
      // Only the saving is lost: the record step says so and imports every finding.
      existing = { failed: error };
    }
  }

  const limits: PieceLimits = { instances: PIECE_MAX_INSTANCES, changes: PIECE_MAX_CHANGES, ...options.pieceLimits };
  const pieces: Piece[] =
    endBy === undefined ? [{ instances, changeBound: 0, upTo: undefined }] : cutPieces(instances, policy, options.apply, limits);
  // One bucket for the invocation's pieces. A continuation follows an invocation that may have
  // just spent the account-region's bucket: it starts empty rather than assume a full one.
  const spent = cursor !== undefined && (options.changesMadeEarlier ?? 0) > 0;
  const { capacity, refillPerSecond } = MODIFY_METADATA_BUCKET;
  const bucket = new TokenBucket(capacity, refillPerSecond, clock, spent ? 0 : capacity);
  const context = { accountExemption: shard.accountExemption, now: options.now };

  const results: InstanceResult[] = [];
  const errors: ScopeError[] = [];
  let findings = recording ? noFindings() : undefined;
  let reportedUpTo = after;
  let longestPieceMs = 0;
  for (const [n, piece] of pieces.entries()) {
    if (n > 0 && endBy !== undefined) {
      const fits = pieceFits({ timeLeftMs: endBy - clock.now(), longestPieceMs, changeBound: piece.changeBound, tokens: bucket.available() });
      if (!fits && reportedUpTo !== undefined) {
        const next = { after: reportedUpTo, invocations: (cursor?.invocations ?? 0) + 1 };
        const left = pieces.slice(n).reduce((sum, p) => sum + p.instances.length, 0);
        log.info('shard continues in the next invocation', { ...where, after: next.after, invocations: next.invocations, reported: results.length, left });
        return { shard: where, instances: results, errors, findings, next };
      }
    }
    const started = clock.now();
    const waitedBefore = bucket.waitedMs();
    const changesMadeEarlier = (options.changesMadeEarlier ?? 0) + results.filter((r) => r.changed).length;
    const pieceDeadline = endBy === undefined ? options.deadline : Math.min(endBy - AFTER_CHANGES_RESERVE_MS, options.deadline ?? Infinity);
    const part = await runPipeline(
      { ...ports, findings: recording ? pieceFindings(recording.port, where, existing, reportedUpTo, piece.upTo) : undefined },
      where,
      piece.instances,
      {
        ...options,
        policy,
        context: () => context,
        deadline: pieceDeadline,
        bucket,
        changesMadeEarlier,
        // The listing is complete over this piece's ids: a finding of any instance in them that the
        // listing lacks is one EC2 may no longer have (it is asked before anything is archived).
        findings: recording ? { partition: recording.partition, archiveMissing: true } : undefined,
      },
    );
    // The wait for EC2's bucket depends on the piece's changes, which the next estimate counts anew.
    longestPieceMs = Math.max(longestPieceMs, clock.now() - started - (bucket.waitedMs() - waitedBefore));
    results.push(...part.instances);
    errors.push(...part.errors);
    if (findings) findings = addFindings(findings, part.findings);
    reportedUpTo = piece.upTo ?? piece.instances.at(-1)?.instanceId ?? reportedUpTo;
  }

  // The account-region's instances are done: its launch templates, once, with the whole listing,
  // counting against what is left of the change cap. A deployed shard leaves them its reserve.
  const templateTimeUp = endBy === undefined ? undefined : () => clock.now() >= endBy - AFTER_CHANGES_RESERVE_MS;
  const templates = await sweepTemplates(ports, where, listed, {
    policy,
    apply: options.apply,
    now: options.now,
    log,
    accountExemption: shard.accountExemption,
    changesMadeEarlier: (options.changesMadeEarlier ?? 0) + results.filter((r) => r.changed).length,
    findings: recording ? { partition: recording.partition } : undefined,
    timeUp: templateTimeUp,
  });
  errors.push(...templates.errors);
  if (findings) findings = addFindings(findings, templates.findings);
  return {
    shard: where,
    instances: results,
    errors,
    findings,
    templates: templates.templates,
    launchConfigurations: templates.launchConfigurations,
    next: undefined,
  };
};

/** One account-region, or the next part of it. Never throws: failures become errors in the result. */
export const sweepShard = async (ports: ShardPorts, shard: PlannedShard, policy: Policy, options: ShardOptions): Promise<ShardProgress> => {
  const { lease, ...rest } = options;
  if (!lease || !options.apply) return sweepHeldShard(ports, shard, policy, rest);
  const { log } = options;
  const where: Shard = { accountId: shard.accountId, region: shard.region };
  const skipped = (message: string): ShardProgress => {
    log.warn('shard skipped', { ...where, reason: message });
    return { shard: where, instances: [], errors: [{ ...where, message }], next: undefined };
  };
  let attempt;
  try {
    attempt = await takeLease(where, lease, log);
  } catch (error) {
    return skipped(`not swept: cannot take the lease of this account-region: ${describeError(error)}`);
  }
  if (attempt.status === 'busy') {
    const { holder, expiresAt, waitedMs } = attempt.busy;
    return skipped(
      `not swept: another run (${holder}) holds this account-region until ${expiresAt}, and did not let go in ${Math.round(waitedMs / 1000)} s; the next sweep takes it up`,
    );
  }
  try {
    return await sweepHeldShard(ports, shard, policy, rest);
  } finally {
    await attempt.lease.release();
  }
};

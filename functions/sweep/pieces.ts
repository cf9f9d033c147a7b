// How a deployed shard fits an account-region of any size into Lambda invocations: its
// instances, in instance-id order, are cut into pieces, each run through the whole pipeline
// (observe → decide → apply → record) and reported once. An invocation stops between pieces
// when the next one would not fit its time; the next invocation starts after the last
// instance id reported. Pieces are contiguous ranges of the id space, so each instance falls in
// exactly one, and so does the finding of an instance that is gone.
import { isWatchedForRejections, needsEvidence } from '../domain/decide.ts';
import type { InstanceFacts } from '../domain/model.ts';
import { hopLimitFor, type Policy } from '../domain/policy.ts';
import { MODIFY_METADATA_BUCKET } from '../domain/token-bucket.ts';

/** Instances in one piece: a few GetMetricData calls and 50 imports. */
export const PIECE_MAX_INSTANCES = 5_000;
/**
 * Instances of one piece that may change: 100 seconds of modifies at EC2's 5 a second, so that
 * a piece is never much longer than the time it is planned against.
 */
export const PIECE_MAX_CHANGES = 500;
/**
 * Kept back, in each piece, after its last modify: the re-reads that confirm the changes (up to
 * ten reads, about 35 s of waiting in all) and the piece's findings.
 */
export const AFTER_CHANGES_RESERVE_MS = 60_000;

/**
 * Kept back from an invocation's time after its last piece: for a piece that runs longer than
 * the longest before it, and for returning the digest.
 */
export const INVOCATION_MARGIN_MS = 30_000;

export interface PieceLimits {
  instances: number;
  changes: number;
}

export interface Piece {
  instances: InstanceFacts[];
  /** At most this many of its instances can be changed, whatever their evidence says. */
  changeBound: number;
  /** The last instance id this piece answers for; undefined: every id after the piece before it. */
  upTo: string | undefined;
}

/** Code-unit order: the same on every invocation, whatever the runtime's locale. */
export const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Is this id in the range (after, upTo]? An undefined bound is open. */
export const inRange = (id: string, after: string | undefined, upTo: string | undefined): boolean =>
  (after === undefined || compareIds(id, after) > 0) && (upTo === undefined || compareIds(id, upTo) <= 0);

/**
 * Could apply change this instance, whatever its evidence says? An upper bound of the changes
 * a piece can make, from the facts alone (the evidence is read only when the piece runs):
 * IMDSv1 allowed (enforce), a hop limit other than the policy's (fix it), or, under
 * `rollback: revert`, an instance this tool enforced (revert it).
 */
export const mightChange = (facts: InstanceFacts, policy: Policy): boolean =>
  needsEvidence(facts) ||
  (facts.metadata.httpEndpoint === 'enabled' && facts.metadata.hopLimit !== hopLimitFor(policy, facts.tags).hopLimit) ||
  (policy.rollback === 'revert' && isWatchedForRejections(facts));

/**
 * Cuts instances (sorted by id) into pieces of at most `limits.instances`, each with at most
 * `limits.changes` instances that might change (none count in a plan). No instances make one
 * empty piece: it still answers for the findings of instances that are gone.
 */
export const cutPieces = (sorted: InstanceFacts[], policy: Policy, apply: boolean, limits: PieceLimits): Piece[] => {
  const pieces: Piece[] = [];
  let current: InstanceFacts[] = [];
  let bound = 0;
  for (const facts of sorted) {
    const changes = apply && mightChange(facts, policy) ? 1 : 0;
    if (current.length > 0 && (current.length >= limits.instances || bound + changes > limits.changes)) {
      pieces.push({ instances: current, changeBound: bound, upTo: current.at(-1)?.instanceId });
      current = [];
      bound = 0;
    }
    current.push(facts);
    bound += changes;
  }
  pieces.push({ instances: current, changeBound: bound, upTo: undefined });
  return pieces;
};

export interface FitInput {
  timeLeftMs: number;
  /**
   * The longest piece this invocation has run, less the time it waited for EC2's modify bucket:
   * what a piece takes besides its modifies.
   */
  longestPieceMs: number;
  changeBound: number;
  /** Tokens in the account-region's modify bucket now. */
  tokens: number;
}

/**
 * Will another piece fit the time left? It needs as long as the longest piece so far took
 * besides its modifies, plus its own possible changes beyond the bucket's tokens at EC2's refill
 * pace, plus the reserve after them.
 */
export const pieceFits = ({ timeLeftMs, longestPieceMs, changeBound, tokens }: FitInput): boolean => {
  const changesMs = (Math.max(0, changeBound - Math.floor(tokens)) * 1000) / MODIFY_METADATA_BUCKET.refillPerSecond;
  return timeLeftMs >= longestPieceMs + changesMs + AFTER_CHANGES_RESERVE_MS;
};

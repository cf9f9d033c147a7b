import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceFacts } from '../../functions/domain/model.ts';
import { parsePolicy } from '../../functions/domain/policy.ts';
import { AFTER_CHANGES_RESERVE_MS, compareIds, cutPieces, inRange, pieceFits } from '../../functions/sweep/pieces.ts';

const policy = parsePolicy({ mode: 'enforce', hopLimit: { default: 1, rules: [{ tagKey: 'eks:cluster-name', hopLimit: 2 }] } });

const facts = (instanceId: string, metadata: Partial<InstanceFacts['metadata']> = {}, tags: Record<string, string> = {}): InstanceFacts => ({
  instanceId,
  state: 'running',
  launchTime: undefined,
  tags,
  instanceProfileArn: undefined,
  metadata: { httpTokens: 'required', httpEndpoint: 'enabled', hopLimit: 1, state: 'applied', ...metadata },
});

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

describe('pieces of a deployed shard', () => {
  it('end at the instance limit or at the changes one piece may make, whichever comes first', () => {
    const compliant = [1, 2, 3].map((n) => facts(id(n)));
    const open = [4, 5, 6, 7].map((n) => facts(id(n), { httpTokens: 'optional' }));
    const drift = facts(id(8), {}, { 'eks:cluster-name': 'prod' });

    const pieces = cutPieces([...compliant, ...open, drift], policy, true, { instances: 4, changes: 2 });

    expect(pieces.map((p) => ({ ids: p.instances.map((f) => f.instanceId), changeBound: p.changeBound, upTo: p.upTo }))).toEqual([
      { ids: [id(1), id(2), id(3), id(4)], changeBound: 1, upTo: id(4) },
      { ids: [id(5), id(6)], changeBound: 2, upTo: id(6) },
      { ids: [id(7), id(8)], changeBound: 2, upTo: undefined },
    ]);
  });

  it.each([
    ['a plan, which changes nothing', false, 0],
    ['an apply', true, 3],
  ])('count the changes they might make in %s', (_, apply, bound) => {
    const pieces = cutPieces([1, 2, 3].map((n) => facts(id(n), { httpTokens: 'optional' })), policy, apply, { instances: 10, changes: 10 });
    expect(pieces.map((p) => p.changeBound)).toEqual([bound]);
  });

  it('are one empty piece over the rest of the ids when nothing is left to list, so that vanished findings are still answered for', () => {
    expect(cutPieces([], policy, true, { instances: 10, changes: 10 })).toEqual([{ instances: [], changeBound: 0, upTo: undefined }]);
  });

  it('answer for every instance id exactly once over the invocations, listed or gone', () => {
    const ids = fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 0, maxLength: 40 });
    fc.assert(
      fc.property(ids, ids, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 5 }), (listed, probes, size, stopAfter) => {
        const sorted = listed.map(id).sort(compareIds).map((i) => facts(i));
        // Invocations as the shard runs them: each takes pieces until it stops, the next starts after the last id reported.
        const ranges: Array<[string | undefined, string | undefined]> = [];
        let after: string | undefined;
        for (;;) {
          const pieces = cutPieces(sorted.filter((f) => after === undefined || compareIds(f.instanceId, after) > 0), policy, false, { instances: size, changes: size });
          const taken = pieces.slice(0, Math.max(1, stopAfter));
          let from = after;
          for (const piece of taken) {
            ranges.push([from, piece.upTo]);
            from = piece.upTo;
          }
          if (taken.length === pieces.length) break;
          after = from;
        }
        for (const probe of [...listed, ...probes].map(id)) {
          expect(ranges.filter(([a, b]) => inRange(probe, a, b)), probe).toHaveLength(1);
        }
      }),
    );
  });

  it.each([
    ['with time for the longest piece, its changes beyond the bucket and the reserve', 20_000 + 60_000 + AFTER_CHANGES_RESERVE_MS, 400, 100, true],
    ['with a full bucket covering every change', 20_000 + AFTER_CHANGES_RESERVE_MS, 100, 100, true],
    ['a second short of it', 20_000 + 60_000 + AFTER_CHANGES_RESERVE_MS - 1_000, 400, 100, false],
    ['with an empty bucket after a continuation', 20_000 + 60_000 + AFTER_CHANGES_RESERVE_MS, 300, 0, true],
  ])('fit the time left %s', (_, timeLeftMs, changeBound, tokens, fits) => {
    expect(pieceFits({ timeLeftMs, longestPieceMs: 20_000, changeBound, tokens })).toBe(fits);
  });
});

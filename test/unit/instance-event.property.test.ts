import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventError, parseInstanceEvent } from '../../functions/events/instance-event.ts';
import { fixture, runInstancesEvent } from '../support/events.ts';

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const instanceId = fc.stringMatching(/^i-[0-9a-f]{17}$/);
const accountId = fc.stringMatching(/^\d{12}$/);

/** Parses, and says how it ended: a result, or an EventError (anything else is a crash). */
type Outcome = { status: 'read'; event: ReturnType<typeof parseInstanceEvent> } | { status: 'rejected'; error: EventError };
const outcome = (raw: unknown): Outcome => {
  try {
    return { status: 'read', event: parseInstanceEvent(raw) };
  } catch (error) {
    if (error instanceof EventError) return { status: 'rejected', error };
    throw error;
  }
};
const problemsOf = (result: Outcome) => (result.status === 'rejected' ? result.error.problems.join('; ') : 'accepted');

describe('event schema, property-based', () => {
  it('never crashes on arbitrary JSON: it reads it, ignores it, or rejects it with EventError', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => void outcome(value)), { numRuns: 500 });
  });

  it('never crashes when any field of a real event is replaced by arbitrary JSON', () => {
    const paths = [['account'], ['region'], ['source'], ['detail'], ['detail', 'eventName'], ['detail', 'awsRegion'], ['detail', 'recipientAccountId'], ['detail', 'errorCode'], ['detail', 'userIdentity'], ['detail', 'responseElements'], ['detail', 'responseElements', 'instancesSet'], ['detail', 'requestParameters']];
    fc.assert(
      fc.property(fc.constantFrom(...paths), fc.jsonValue(), fc.boolean(), (path, value, drift) => {
        const event = structuredClone(fixture(drift ? 'modify-instance-metadata-options' : 'run-instances')) as Record<string, unknown>;
        let node = event;
        for (const key of path.slice(0, -1)) {
          const next = node[key];
          if (typeof next !== 'object' || next === null) return;
          node = next as Record<string, unknown>;
        }
        node[path[path.length - 1] ?? ''] = value;
        const result = outcome(event);
        if (result.status === 'read' && result.event.kind !== 'ignored') {
          expect(result.event.instanceIds.every((id) => INSTANCE_ID.test(id))).toBe(true);
          expect(result.event.accountId).toMatch(/^\d{12}$/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('reads every well-formed RunInstances event: each id once, account and region as sent', () => {
    fc.assert(
      fc.property(accountId, fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-2'), fc.array(instanceId, { minLength: 1, maxLength: 60 }), (account, region, ids) => {
        const parsed = parseInstanceEvent(runInstancesEvent(account, region, ids));
        expect(parsed).toMatchObject({ kind: 'launch', accountId: account, region });
        expect(parsed.kind === 'launch' && parsed.instanceIds).toEqual([...new Set(ids)]);
      }),
    );
  });

  it('rejects any instance id that is not an instance id, naming its position', () => {
    const notAnId = fc.string({ maxLength: 40 }).filter((s) => !INSTANCE_ID.test(s));
    fc.assert(
      fc.property(fc.array(instanceId, { maxLength: 5 }), notAnId, (good, bad) => {
        const result = outcome(runInstancesEvent('111122223333', 'us-east-1', [...good, bad]));
        expect(problemsOf(result)).toContain(`instancesSet.items[${good.length}].instanceId`);
      }),
    );
  });

  it('handles a huge instance list by rejecting it, not by crashing or acting on it', () => {
    const ids = Array.from({ length: 10_001 }, (_, n) => `i-${n.toString(16).padStart(17, '0')}`);
    const result = outcome(runInstancesEvent('111122223333', 'us-east-1', ids));
    expect(problemsOf(result)).toMatch(/lists more than 10000 instances/);
  });
});

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../functions/domain/errors.ts';
import { parsePolicy, parsePolicyText } from '../../functions/domain/policy.ts';

const problemsOf = (input: unknown): string[] => {
  try {
    parsePolicy(input);
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  throw new Error('policy was accepted');
};

describe('policy', () => {
  it('accepts the shipped default policy file as documented', async () => {
    const policy = parsePolicyText(await readFile('policy.yaml', 'utf8'));
    expect(policy).toMatchObject({
      mode: 'enforce',
      lookbackDays: 14,
      minObservedDays: 7,
      memberRoleName: 'ImdsRemediatorMemberRole',
      scope: { regions: ['us-east-1', 'eu-west-1'] },
      hopLimit: { default: 1 },
    });
    expect(policy.hopLimit.rules).toHaveLength(3);
  });

  it('fills safe defaults for an empty document: report mode, everything in scope', () => {
    const policy = parsePolicyText('');
    expect(policy.mode).toBe('report');
    expect(policy.scope).toEqual({ regions: [], accounts: [], ous: [] });
  });

  it('reads JSON as well as YAML', () => {
    expect(parsePolicyText('{"mode":"enforce","lookbackDays":21}').lookbackDays).toBe(21);
  });

  it.each([
    [{ hopLimit: { rules: [{ tagKey: 'x', hopLimit: 65 }] } }, 'hopLimit.rules[0].hopLimit: hop limit must be 1–64'],
    [{ hopLimit: { default: 0 } }, 'hopLimit.default: hop limit must be 1–64'],
    [{ mode: 'fix-everything' }, 'mode:'],
    [{ lookbackDays: 'two weeks' }, 'lookbackDays:'],
    [{ scope: { accounts: ['12345'] } }, 'scope.accounts[0]: must be a 12-digit account id'],
    [{ scope: { regions: ['Ireland'] } }, 'scope.regions[0]: must be a region name like us-east-1'],
    [{ scope: { ous: ['engineering'] } }, 'scope.ous[0]: must be an OU id like'],
    [{ exempt: { tags: [{ key: 'team[0]' }] } }, 'exempt.tags[0].key: tag key is not a supported glob'],
    [{ memberRoleName: 'role with spaces' }, 'memberRoleName: memberRoleName must be an IAM role name'],
    [{ force: { instanceIds: ['web-1'] } }, 'force.instanceIds[0]: must be an instance id like'],
    [{ lookbackDays: 5, minObservedDays: 7 }, 'minObservedDays: minObservedDays (7) cannot exceed lookbackDays (5)'],
    [{ scope: { regions: [] } }, 'scope.regions: an empty list is ambiguous'],
    [{ scope: { regions: [''] } }, 'scope.regions[0]: must be a region name like us-east-1'],
    [{ hopLimit: { rules: [{ tagKey: 'team-{a,b}', hopLimit: 2 }] } }, 'hopLimit.rules[0].tagKey: tagKey is not a supported glob'],
    [{ hopLimit: { rules: [{ tagKey: '', hopLimit: 2 }] } }, 'hopLimit.rules[0].tagKey: tagKey must not be empty'],
    [{ exempt: { tags: [{ key: 'team', values: ['[prod]'] }] } }, 'exempt.tags[0].values[0]: tag value is not a supported glob'],
    [{ force: { tags: [{ key: 'team', values: [] }] } }, 'force.tags[0].values:'],
    [{ hopLimit: { default: 2.5 } }, 'hopLimit.default:'],
    [{ scope: { regions: 'us-east-1' } }, 'scope.regions:'],
    [{ revertWithinDays: 0 }, 'revertWithinDays: must be 1–14 days'],
    [{ hopLimit: { lower: 'sometimes' } }, 'hopLimit.lower: must be never, report or apply'],
  ])('refuses %j naming the field', (input, expected) => {
    expect(problemsOf(input).join('\n')).toContain(expected);
  });

  it('refuses unknown keys, naming each, at any depth', () => {
    expect(problemsOf({ mdoe: 'enforce', scope: { region: ['us-east-1'] } }).sort()).toEqual([
      'mdoe: unknown key',
      'scope.region: unknown key',
    ]);
  });

  it('reports every problem at once, not just the first', () => {
    const problems = problemsOf({ lookbackDays: 0, hopLimit: { default: 99 } });
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^lookbackDays:/), expect.stringMatching(/^hopLimit.default:/)]));
  });

  it('points at the line of a YAML syntax error', () => {
    expect(() => parsePolicyText('mode: enforce\nscope: [unclosed\n', 'p.yaml')).toThrow(/p.yaml: not valid YAML or JSON at line \d/);
  });

  it('refuses a document that is not a mapping', () => {
    expect(() => parsePolicyText('- a\n- b\n')).toThrow(/must be a mapping/);
  });
});

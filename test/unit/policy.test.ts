import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../functions/domain/errors.ts';
import { parse as parseYaml } from 'yaml';
import { MAX_GLOB_STARS } from '../../functions/domain/glob.ts';
import { parsePolicy, parsePolicyText } from '../../functions/domain/policy.ts';
import { REGIONS_BY_PARTITION } from '../../functions/domain/regions.ts';

const problemsOf = (input: unknown): string[] => {
  try {
    parsePolicy(input);
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  throw new Error('policy was accepted');
};

const problemsOfText = (text: string): string[] => {
  try {
    parsePolicyText(text, 'p.yaml');
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
  throw new Error('policy was accepted');
};

describe('policy', () => {
  it('ships policy.yaml as the reference of the real defaults: the same policy as one that says only mode: report', async () => {
    const reference = parsePolicyText(await readFile('policy.yaml', 'utf8'), 'policy.yaml');

    expect(reference).toEqual(parsePolicy({ mode: 'report' }));
    expect(reference.mode).toBe('report');
  });

  it('shows every key of the policy in policy.yaml, set to its default or, where it has none to write, in a comment', async () => {
    const text = await readFile('policy.yaml', 'utf8');
    const written = parseYaml(text) as Record<string, unknown>;
    const keyPaths = (value: unknown, prefix = ''): string[] =>
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? Object.entries(value).flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)])
        : [];
    const commented = new Set([...text.matchAll(/^\s*# ?(\w+):/gm)].map((m) => m[1]));
    const everyKey = [...keyPaths(parsePolicy({ mode: 'report' })), 'maxChangesPerAccountRegion'];

    const missing = everyKey.filter((key) => !keyPaths(written).includes(key) && !commented.has(key.split('.').at(-1)));

    expect(missing).toEqual([]);
  });

  it('gives the demo its own policy: enforcing, in the demo regions, exempting by a tag outside the tool’s prefix', async () => {
    const demo = parsePolicyText(await readFile('local/demo-policy.yaml', 'utf8'), 'local/demo-policy.yaml');

    expect(demo).toMatchObject({ mode: 'enforce', scope: { regions: ['us-east-1', 'eu-west-1'] }, hopLimit: { default: 1 } });
    expect(demo.hopLimit.rules).toHaveLength(3);
    expect(demo.exempt.tags).toEqual([{ key: 'imds-exempt', values: ['true'] }]);
  });

  it.each([
    ['an empty file', ''],
    ['only comments', '# mode: enforce\n'],
    ['an empty mapping', '{}'],
    ['an empty YAML document', '---\n'],
  ])('refuses %s, saying what to write', (_, text) => {
    expect(() => parsePolicyText(text, 'p.yaml')).toThrow(/p.yaml: the policy is empty; write at least `mode: report`.*or `mode: enforce`/);
  });

  it('requires mode in a policy document, and still reports the other problems', () => {
    const problems = problemsOfText('lookbackDays: 99\n');
    expect(problems).toEqual([expect.stringMatching(/^lookbackDays:/), expect.stringMatching(/^mode: required; write at least `mode: report`/)]);
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
    [{ scope: { regions: ['Ireland'] } }, "scope.regions[0]: unknown region 'Ireland'"],
    [{ scope: { regions: ['us-east-1', 'eu-wset-1'] } }, "scope.regions[1]: unknown region 'eu-wset-1'"],
    [{ scope: { regions: ['us-east-1', 'cn-north-1'] } }, 'scope.regions: mixes regions of the partitions aws, aws-cn'],
    [{ hopLimit: { rules: [{ tagKey: 'a*b*c*d*e*f*g*h*i*', hopLimit: 2 }] } }, `hopLimit.rules[0].tagKey: tagKey has 9 * wildcards; at most ${MAX_GLOB_STARS} are allowed`],
    [{ exempt: { tags: [{ key: 'x', values: ['*'.repeat(50)] }] } }, 'exempt.tags[0].values[0]: tag value has 50 * wildcards'],
    [{ scope: { ous: ['engineering'] } }, 'scope.ous[0]: must be an OU id like'],
    [{ exempt: { tags: [{ key: 'team[0]' }] } }, 'exempt.tags[0].key: tag key is not a supported glob'],
    [{ memberRoleName: 'role with spaces' }, 'memberRoleName: memberRoleName must be an IAM role name'],
    [{ force: { instanceIds: ['web-1'] } }, 'force.instanceIds[0]: must be an instance id like'],
    [{ lookbackDays: 5, minObservedDays: 7 }, 'minObservedDays: minObservedDays (7) cannot exceed lookbackDays (5)'],
    [{ scope: { regions: [] } }, 'scope.regions: an empty list is ambiguous'],
    [{ scope: { regions: [''] } }, "scope.regions[0]: unknown region ''"],
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

  it.each([
    ['a duplicate key', 'mode: enforce\nscope:\n  regions: [us-east-1]\n  regions: [eu-west-1]\n', /^p.yaml: not valid YAML or JSON: scope.regions: duplicate key.*\(line 4, column 3\)$/],
    ['a duplicate key in JSON', '{"mode": "enforce", "mode": "report"}', /^p.yaml: not valid YAML or JSON: mode: duplicate key/],
    [
      'an alias bomb',
      `mode: report\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`,
      /^p.yaml: not valid YAML or JSON: c\[\d\]: too many aliases: they would expand to more than 1000 values/,
    ],
    ['an alias to an anchor not yet set', 'mode: *chosen\n', /^p.yaml: not valid YAML or JSON: mode: unknown alias \*chosen/],
    ['an unclosed list', 'mode: enforce\nscope: [unclosed\n', /^p.yaml: not valid YAML or JSON: scope\[0\]: Flow sequence .* end with a \] \(line 3, column 1\)$/],
  ])('names the key and the cause of %s, not only a line', (_, text, expected) => {
    const problems = problemsOfText(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it('accepts every region of every partition it knows', () => {
    const regions = Object.values(REGIONS_BY_PARTITION);
    for (const inPartition of regions) expect(parsePolicy({ scope: { regions: [...inPartition] } }).scope.regions).toEqual(inPartition);
  });

  it('accepts anchors and aliases used as a person would, to repeat a list', () => {
    const policy = parsePolicyText(
      'mode: report\nhopLimit:\n  rules:\n    - { tagKey: workload, values: &containers [ecs, docker], hopLimit: 2 }\nexempt:\n  tags: [{ key: role, values: *containers }]\n',
    );
    expect(policy.exempt.tags[0]?.values).toEqual(['ecs', 'docker']);
  });

  it('refuses a document that is not a mapping', () => {
    expect(() => parsePolicyText('- a\n- b\n')).toThrow(/must be a mapping/);
  });
});

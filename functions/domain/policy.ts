import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { formatIssues, PolicyError } from './errors.ts';
import { globMatcher, isValidGlob } from './glob.ts';
import { accountIdSchema, instanceIdSchema, ouIdSchema, regionSchema } from './ids.ts';

const glob = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(256)
    .refine(isValidGlob, `${what} is not a supported glob (only * and ? are special; [ ] { } are not allowed)`);

const hopLimit = z.int().min(1, 'hop limit must be 1–64').max(64, 'hop limit must be 1–64');
const accountId = accountIdSchema;
const ouId = ouIdSchema;
const region = regionSchema;
const instanceId = instanceIdSchema;

const tagMatch = z.strictObject({
  key: glob('tag key'),
  values: z.array(glob('tag value')).min(1).optional(),
});

const hopLimitRule = z.strictObject({
  tagKey: glob('tagKey'),
  values: z.array(glob('tag value')).min(1).optional(),
  hopLimit,
});

const policySchema = z
  .strictObject({
    mode: z.enum(['enforce', 'report']).default('report'),
    lookbackDays: z.int().min(1).max(63).default(14),
    minObservedDays: z.int().min(1).max(63).default(7),
    // New instances have no history: enforce at launch (unless siblings use v1), or wait for the sweep.
    onLaunch: z.enum(['enforce', 'wait']).default('enforce'),
    // After we enforce, rejected IMDSv1 calls mean a workload is failing: alert only, or also revert to optional.
    rollback: z.enum(['alert', 'revert']).default('alert'),
    // A workload that enforcement breaks fails at once; rejected calls that begin later look like
    // an SSRF probe, which must never re-open IMDSv1. Counted from the enforced-at tag.
    revertWithinDays: z.int('must be 1–14 days').min(1, 'must be 1–14 days').max(14, 'must be 1–14 days').default(3),
    memberRoleName: z
      .string()
      .regex(/^[\w+=,.@-]{1,64}$/, 'memberRoleName must be an IAM role name (1–64 of letters, digits and +=,.@_-)')
      .default('ImdsRemediatorMemberRole'),
    scope: z
      .strictObject({
        // Left out, every enabled region. An explicit empty list is ambiguous ("nowhere"?)
        // and would silently widen the scope of a tool that can change every instance.
        regions: z.array(region).min(1, 'an empty list is ambiguous: leave scope.regions out to sweep every enabled region').default([]),
        accounts: z.array(accountId).default([]),
        ous: z.array(ouId).default([]),
      })
      .prefault({}),
    hopLimit: z
      .strictObject({
        default: hopLimit.default(1),
        rules: z.array(hopLimitRule).default([]),
        // A hop limit above the rule's is kept unless this says `apply`: lowering it can cut a
        // host's containers off IMDS, and nothing would notice. `report` keeps it and says so.
        lower: z.enum(['never', 'report', 'apply'], { error: 'must be never, report or apply' }).default('never'),
      })
      .prefault({}),
    exempt: z
      .strictObject({
        tags: z.array(tagMatch).default([]),
        accounts: z.array(accountId).default([]),
        ous: z.array(ouId).default([]),
      })
      .prefault({}),
    force: z
      .strictObject({
        instanceIds: z.array(instanceId).default([]),
        tags: z.array(tagMatch).default([]),
      })
      .prefault({}),
    // Changes (enforce, hop limit, revert) one run makes in one account-region, the most
    // urgent first; the rest wait for the next run. Left out: as many as the run's time allows.
    maxChangesPerAccountRegion: z.int().min(1, 'must be at least 1').max(1_000_000).optional(),
    findings: z
      .strictObject({
        enabled: z.boolean().default(true),
      })
      .prefault({}),
  })
  .superRefine((p, ctx) => {
    if (p.minObservedDays > p.lookbackDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['minObservedDays'],
        message: `minObservedDays (${p.minObservedDays}) cannot exceed lookbackDays (${p.lookbackDays})`,
      });
    }
  });

export type Policy = z.output<typeof policySchema>;
export type PolicyInput = z.input<typeof policySchema>;
export type TagMatch = z.output<typeof tagMatch>;

export const parsePolicy = (input: unknown): Policy => {
  const result = policySchema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new PolicyError(formatIssues(result.error.issues));
};

/** Reads a policy document; JSON is YAML, so one parser serves both. */
export const parsePolicyText = (text: string, source = 'policy'): Policy => {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new PolicyError([`${source}: not valid YAML or JSON${where}`], { cause: error });
  }
  if (document !== null && document !== undefined && (typeof document !== 'object' || Array.isArray(document))) {
    throw new PolicyError([`${source}: the document must be a mapping of keys`]);
  }
  return parsePolicy(document);
};

export const matchesTag = (tags: Record<string, string>, match: TagMatch): boolean => {
  const keyMatches = globMatcher(match.key);
  const valueMatchers = match.values?.map(globMatcher);
  return Object.entries(tags).some(
    ([key, value]) => keyMatches(key) && (valueMatchers === undefined || valueMatchers.some((m) => m(value))),
  );
};

/** The first rule whose tag matches decides; otherwise the default. */
export const hopLimitFor = (policy: Policy, tags: Record<string, string>): { hopLimit: number; rule: string } => {
  for (const [index, rule] of policy.hopLimit.rules.entries()) {
    if (matchesTag(tags, { key: rule.tagKey, values: rule.values })) {
      const values = rule.values ? ` in [${rule.values.join(', ')}]` : '';
      return { hopLimit: rule.hopLimit, rule: `rule ${index + 1} (${rule.tagKey}${values})` };
    }
  }
  return { hopLimit: policy.hopLimit.default, rule: 'default' };
};

import { z } from 'zod';
import { formatIssues, PolicyError } from './errors.ts';
import { globMatcher, globProblem, MAX_GLOB_STARS, starCount } from './glob.ts';
import { accountIdSchema, instanceIdSchema, ouIdSchema } from './ids.ts';
import { partitionOf } from './regions.ts';
import { readYaml } from './yaml-document.ts';

const glob = (what: string) =>
  z
    .string()
    .max(256)
    .superRefine((pattern, ctx) => {
      const problem = globProblem(pattern);
      if (problem === 'empty') ctx.addIssue({ code: 'custom', message: `${what} must not be empty` });
      if (problem === 'unsupported') {
        ctx.addIssue({ code: 'custom', message: `${what} is not a supported glob (only * and ? are special; [ ] { } are not allowed)` });
      }
      if (problem === 'too-many-stars') {
        ctx.addIssue({ code: 'custom', message: `${what} has ${starCount(pattern)} * wildcards; at most ${MAX_GLOB_STARS} are allowed` });
      }
    });

// A region AWS does not have would sweep nothing there and still exit 0: refuse it by name.
const region = z
  .string()
  .max(32, 'must be a region name like us-east-1')
  .refine((name) => partitionOf(name) !== undefined, { error: (issue) => `unknown region '${String(issue.input)}'` });

const hopLimit = z.int().min(1, 'hop limit must be 1–64').max(64, 'hop limit must be 1–64');
const accountId = accountIdSchema;
const ouId = ouIdSchema;
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
    // What `imds-remediator guardrails` writes into the SCP it proposes (it never attaches it).
    guardrails: z
      .strictObject({
        // The role that may still re-open IMDSv1 once the SCP is attached: a role ARN pinned to one
        // account (a path allowed; * and ? only in the role name, after its first character). A
        // bare name or an account wildcard would let any member account's admin create a role of
        // that name and re-open IMDSv1. Left out: no break-glass exception at all.
        breakGlassRole: z
          .string()
          .max(512)
          .regex(
            /^arn:aws[\w-]*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-][\w+=,.@*?-]{0,63}$/,
            'must be a role ARN pinned to one 12-digit account, like arn:aws:iam::123456789012:role/path/BreakGlass (* and ? only in the role name, after its first character)',
          )
          .optional(),
      })
      .prefault({}),
    // Launch templates whose $Default (or a $Latest a group uses) allows IMDSv1 get a new default
    // version requiring IMDSv2 when every instance launched from them shows no IMDSv1 use.
    // `unused`: a template no running instance was launched from and no group uses: only `report`
    // it (the default: EC2 Fleet, Batch, Karpenter or a script this tool cannot see may launch it,
    // and unknown is never zero) or `fix` it anyway.
    launchTemplates: z
      .strictObject({
        enabled: z.boolean().default(true),
        // Whether apply writes templates at all. Off by default, as the member role's
        // FixLaunchTemplates is (a privilege escalation: docs/SECURITY.md): turn both on together,
        // or every apply asks IAM for a write it refuses.
        fix: z.boolean().default(false),
        unused: z.enum(['fix', 'report'], { error: 'must be fix or report' }).default('report'),
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
    // One set of credentials reaches one partition: the other partition's regions would be skipped.
    const partitions = [...new Set(p.scope.regions.flatMap((r) => partitionOf(r) ?? []))];
    if (partitions.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['scope', 'regions'],
        message: `mixes regions of the partitions ${partitions.join(', ')}; one run reaches one partition`,
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

export const EMPTY_POLICY_ADVICE =
  'write at least `mode: report` (plan only, changes nothing) or `mode: enforce` (apply may change instances); ' +
  'every other key has a default, listed in policy.yaml';

/**
 * Reads a policy document; JSON is YAML, so one parser serves both. A document must say at
 * least which mode it wants: an empty file (or the wrong file) must not run with every
 * default, which sweeps every account and region.
 */
export const parsePolicyText = (text: string, source = 'policy'): Policy => {
  const reading = readYaml(text);
  if (!reading.ok) throw new PolicyError(reading.problems.map((problem) => `${source}: not valid YAML or JSON: ${problem}`));
  const document = reading.value;
  if (document === null || document === undefined || (typeof document === 'object' && Object.keys(document).length === 0)) {
    throw new PolicyError([`${source}: the policy is empty; ${EMPTY_POLICY_ADVICE}`]);
  }
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new PolicyError([`${source}: the document must be a mapping of keys`]);
  }
  const result = policySchema.safeParse(document);
  const problems = result.success ? [] : formatIssues(result.error.issues);
  if (!('mode' in document)) problems.push(`mode: required; ${EMPTY_POLICY_ADVICE}`);
  if (result.success && problems.length === 0) return result.data;
  throw new PolicyError(problems);
};

export const matchesTag = (tags: Record<string, string>, match: TagMatch): boolean => {
  const keyMatches = globMatcher(match.key);
  const valueMatchers = match.values?.map(globMatcher);
  return Object.entries(tags).some(
    ([key, value]) => keyMatches(key) && (valueMatchers === undefined || valueMatchers.some((m) => m(value))),
  );
};

/** The highest hop limit the policy ever wants: the guardrails' ceiling, at launch and on a change. */
export const hopLimitCeiling = (policy: Policy): number => Math.max(policy.hopLimit.default, ...policy.hopLimit.rules.map((r) => r.hopLimit));

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

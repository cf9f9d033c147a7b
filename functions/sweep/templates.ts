// The sweep's launch-template step, once per account-region after its instances: list the
// templates and the groups that use them, read the evidence of the instances launched from each
// template that allows IMDSv1, decide, make the new default versions the evidence allows (within
// the run's change budget), and record a finding per template.
import pLimit from 'p-limit';
import { describeError, TemplateCopyMismatchError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import { NO_EVIDENCE, type InstanceFacts, type ScopeError, type Shard } from '../domain/model.ts';
import type { Policy } from '../domain/policy.ts';
import { TAG_LAUNCH_TEMPLATE, TAG_LAUNCH_TEMPLATE_VERSION, TAG_REASON, TAG_TEMPLATE_FIXED_AT } from '../domain/tags.ts';
import {
  decideTemplate,
  type LaunchConfigurationResult,
  type TemplateChange,
  type TemplateDecision,
  type TemplateFacts,
  type TemplateResult,
  type TemplateUser,
} from '../domain/templates.ts';
import { recordTemplateFindings } from '../findings/template-findings.ts';
import type { FindingsOutcome } from '../findings/record.ts';
import { observe } from '../pipeline/observe.ts';
import type { GroupListing, ShardPorts } from '../pipeline/ports.ts';

const TAG_VALUE_MAX = 256;
const DESCRIPTION_MAX = 255;
/** DescribeLaunchTemplateVersions calls in flight at once in one account-region. */
const READ_CONCURRENCY = 4;

export interface TemplatesOptions {
  policy: Policy;
  /** Make the changes (the one switch, computed by mayChange()); false is a plan. */
  apply: boolean;
  now: Date;
  log: Log;
  accountExemption?: string | undefined;
  /** Changes this run already made in this account-region: templates count against the same cap, after the instances. */
  changesMadeEarlier: number;
  /** Record a finding per template (needs ports.findings); undefined: do not. */
  findings?: { partition: string } | undefined;
  /** Once true, no further template is changed: the rest is deferred to the next run. */
  timeUp?: (() => boolean) | undefined;
}

export interface TemplatesOutcome {
  templates: TemplateResult[];
  launchConfigurations: LaunchConfigurationResult[];
  errors: ScopeError[];
  findings?: FindingsOutcome | undefined;
}

const NONE: TemplatesOutcome = { templates: [], launchConfigurations: [], errors: [] };

/** Which groups launch from this template (named by id or by name), and the versions they name. */
const usersOf = (template: { launchTemplateId: string; launchTemplateName: string }, groups: GroupListing[]): TemplateUser[] =>
  groups.flatMap((g) =>
    g.templates
      .filter((t) => t.launchTemplateId === template.launchTemplateId || (t.launchTemplateId === undefined && t.launchTemplateName === template.launchTemplateName))
      .map((t) => ({ group: g.name, version: t.version })),
  );

const resultOf = (shard: Shard, facts: TemplateFacts, d: TemplateDecision): TemplateResult => ({
  ...shard,
  launchTemplateId: facts.launchTemplateId,
  launchTemplateName: facts.launchTemplateName,
  verdict: d.verdict,
  allowsV1: d.allowsV1,
  reason: d.reason,
  defaultVersion: facts.defaultVersion,
  createdVersions: [],
  changes: d.changes,
  changed: false,
  instances: d.instances,
  v1Users: d.v1Users,
  pinned: d.pinned,
});

/** What a version the tool creates says of itself: the same text for the same change, so a retry with the same ClientToken matches. */
export const fixedVersionDescription = (change: TemplateChange): string =>
  `imds-remediator: copy of version ${change.sourceVersion} with IMDSv2 required, ${change.hopLimit === undefined ? 'hop limit unset as in the source' : `hop limit ${change.hopLimit}`}`.slice(0, DESCRIPTION_MAX);

/**
 * The copies in order, then the new default, then the tags that record it (only once the change
 * is made: the tag is what tells a later run that the tool fixed this template). The versions made
 * are reported even when a later step fails.
 */
const fixTemplate = async (ports: NonNullable<ShardPorts['templates']>, result: TemplateResult, now: Date, log: Log): Promise<TemplateResult> => {
  const created: number[] = [];
  try {
    for (const change of result.changes) {
      // The same request (a retry after a lost answer) makes one version: EC2 keys it by the token.
      const token = `imds-${result.launchTemplateId}-${change.sourceVersion}-${result.defaultVersion}-${change.hopLimit ?? 'unset'}`.slice(0, 64);
      created.push(await ports.ec2.createFixedVersion(result.launchTemplateId, change, fixedVersionDescription(change), token));
    }
    const made = result.changes.findIndex((c) => c.makeDefault);
    const newDefault = made >= 0 ? created[made] : undefined;
    if (newDefault !== undefined) await ports.ec2.setDefaultVersion(result.launchTemplateId, newDefault);
    const what = newDefault !== undefined ? `version ${newDefault} made the default` : `version ${created.join(', ')} made $Latest`;
    let reason = `${result.reason}; ${what}`;
    try {
      await ports.ec2.tagTemplate(result.launchTemplateId, { [TAG_TEMPLATE_FIXED_AT]: now.toISOString(), [TAG_REASON]: reason.slice(0, TAG_VALUE_MAX) });
    } catch (error) {
      // The change is made: a missing tag only means a later set-back is not recognised as one.
      log.error('template tag failed', { launchTemplateId: result.launchTemplateId, reason: describeError(error) });
      reason = `${reason}; the tag ${TAG_TEMPLATE_FIXED_AT} could not be written: ${describeError(error)}`;
    }
    return { ...result, changed: true, allowsV1: false, createdVersions: created, reason };
  } catch (error) {
    // A copy that did not match its source exists (as $Latest) but was not made the default.
    if (error instanceof TemplateCopyMismatchError) created.push(error.version);
    const made = created.length > 0 ? `; version ${created.join(', ')} created (now $Latest), $Default left at ${result.defaultVersion}` : '';
    return { ...result, verdict: 'error', createdVersions: created, reason: `new default version failed: ${describeError(error)}${made}` };
  }
};

/** One account-region's launch templates. Never throws: failures become errors in the outcome. */
export const sweepTemplates = async (ports: ShardPorts, shard: Shard, instances: InstanceFacts[], options: TemplatesOptions): Promise<TemplatesOutcome> => {
  const templatesPorts = ports.templates;
  const { policy, log } = options;
  if (!templatesPorts || !policy.launchTemplates.enabled) return NONE;
  const errors: ScopeError[] = [];
  const fail = (message: string): TemplatesOutcome => {
    log.error('launch templates not swept', { ...shard, reason: message });
    return { ...NONE, errors: [{ ...shard, message }] };
  };

  let listed;
  try {
    listed = await templatesPorts.ec2.listTemplates();
  } catch (error) {
    return fail(`cannot list launch templates: ${describeError(error)}`);
  }
  let openConfigurations: string[] = [];
  try {
    openConfigurations = await templatesPorts.autoscaling.listLaunchConfigurationsAllowingV1();
  } catch (error) {
    errors.push({ ...shard, message: `cannot list launch configurations: ${describeError(error)}` });
  }
  // The groups matter only to templates and open launch configurations: an empty account-region skips the call.
  let groups: GroupListing[] = [];
  if (listed.length > 0 || openConfigurations.length > 0) {
    try {
      groups = await templatesPorts.autoscaling.listGroups();
    } catch (error) {
      // Without the groups, neither a $Latest in use nor a pinned version is known: nothing is decided.
      return fail(`cannot list Auto Scaling groups, so launch templates were not decided: ${describeError(error)}`);
    }
  }

  const launchConfigurations: LaunchConfigurationResult[] = [];
  {
    for (const name of openConfigurations) {
      const users = groups.filter((g) => g.launchConfigurationName === name).map((g) => g.name);
      launchConfigurations.push({
        ...shard,
        name,
        groups: users,
        reason: `launch configuration ${name} allows IMDSv1 and cannot be changed${users.length > 0 ? `; used by ${users.join(', ')}` : ''}: create a launch template (with HttpTokens=required) from it and move ${users.length > 0 ? 'the group' : 'any group'} to it (aws autoscaling update-auto-scaling-group --launch-template …), or a new launch configuration with --metadata-options HttpTokens=required`,
      });
    }
  }

  const byTemplate = new Map<string, InstanceFacts[]>();
  for (const f of instances) {
    const id = f.tags[TAG_LAUNCH_TEMPLATE];
    if (id) byTemplate.set(id, [...(byTemplate.get(id) ?? []), f]);
  }
  const context = { accountExemption: options.accountExemption };

  // Each template's versions ($Default, $Latest, and every number a group pins); a decision without evidence first.
  const limit = pLimit(READ_CONCURRENCY);
  const read = await Promise.all(
    listed.map((t) =>
      limit(async () => {
        const users = usersOf(t, groups);
        const pinned = users.map((u) => u.version).filter((v) => /^\d+$/.test(v));
        const all = byTemplate.get(t.launchTemplateId) ?? [];
        // Only the instances of the version a fix copies vouch for it: another version may have
        // another AMI or other user data. EC2 tags each instance with the version it launched.
        const ofDefault = all.filter((f) => f.tags[TAG_LAUNCH_TEMPLATE_VERSION] === String(t.defaultVersion));
        const launched = ofDefault;
        const ctx = { ...context, otherVersions: all.length - ofDefault.length };
        try {
          const versions = await templatesPorts.ec2.readVersions(t.launchTemplateId, ['$Default', '$Latest', ...pinned]);
          const facts: TemplateFacts = { ...t, groups: users, versions: new Map(versions.map((v) => [v.versionNumber, v])) };
          return { facts, launched, ctx, first: decideTemplate(facts, launched.map((f) => ({ facts: f, evidence: NO_EVIDENCE })), policy, ctx) };
        } catch (error) {
          const facts: TemplateFacts = { ...t, groups: users, versions: new Map() };
          const first: TemplateDecision = {
            verdict: 'error',
            reason: `cannot read its versions: ${describeError(error)}`,
            changes: [],
            allowsV1: true,
            pinned: [],
            instances: launched.length,
            v1Users: [],
          };
          return { facts, launched, ctx, first };
        }
      }),
    ),
  );

  // Evidence only for the instances of templates a change is wanted for: a compliant organization reads none.
  // Without evidence a template that wants a change is `fix` or undecided; compliant, blocked (a person decides), exempt and error stand.
  const wantsEvidence = (d: TemplateDecision) => d.verdict !== 'compliant' && d.verdict !== 'blocked' && d.verdict !== 'exempt' && d.verdict !== 'error';

  // A template that allows IMDSv1 and that this tool fixed before was set back (by a person or
  // infrastructure as code): found by its tag, or else by a version this tool made before $Default.
  await Promise.all(
    read.map((r) =>
      limit(async () => {
        if (!wantsEvidence(r.first) || r.facts.tags[TAG_TEMPLATE_FIXED_AT] !== undefined) return;
        try {
          r.facts.earlierFix = await templatesPorts.ec2.earlierFix(r.facts.launchTemplateId, r.facts.defaultVersion);
        } catch (error) {
          r.first = { ...r.first, verdict: 'error', changes: [], reason: `cannot read its earlier versions: ${describeError(error)}` };
        }
      }),
    ),
  );
  const needEvidence = read.filter((r) => wantsEvidence(r.first));
  const evidenceOf = needEvidence.flatMap((r) => r.launched);
  const observed = await observe(ports.metrics, shard, evidenceOf, { policy, now: options.now, log, readRejectedOfAll: true });
  errors.push(...observed.errors.map((e) => ({ ...e, message: `launch templates: ${e.message}` })));
  const evidenceById = new Map(observed.observations.map((o) => [o.facts.instanceId, o.evidence]));

  const decided = read.map((r) => {
    const decision =
      wantsEvidence(r.first)
        ? decideTemplate(r.facts, r.launched.map((f) => ({ facts: f, evidence: evidenceById.get(f.instanceId) ?? NO_EVIDENCE })), policy, r.ctx)
        : r.first;
    const result = resultOf(shard, r.facts, decision);
    log.info('template decision', { ...shard, launchTemplateId: result.launchTemplateId, verdict: result.verdict, reason: result.reason, mode: options.apply ? 'apply' : 'plan' });
    return { facts: r.facts, result };
  });

  // Templates count against the run's change cap, after the instances: a running instance comes first.
  const cap = policy.maxChangesPerAccountRegion;
  let budget = cap === undefined ? Infinity : Math.max(0, cap - options.changesMadeEarlier);
  const settled = [];
  for (const d of [...decided].sort((a, b) => a.result.launchTemplateId.localeCompare(b.result.launchTemplateId))) {
    if (!options.apply || d.result.verdict !== 'fix') {
      settled.push(d);
      continue;
    }
    if (!policy.launchTemplates.fix) {
      // Never ask IAM for a write the role was not given: the change stays a plan, said so.
      const why = 'launchTemplates.fix is false (turn it on with the member role\'s FixLaunchTemplates=true)';
      settled.push({ ...d, result: { ...d.result, reason: `${d.result.reason}; not changed: ${why}` } });
      continue;
    }
    if (budget <= 0 || options.timeUp?.()) {
      const why = budget <= 0 ? `the policy allows ${cap} changes per account-region per run (maxChangesPerAccountRegion)` : "this run's time is up";
      log.info('template change deferred', { ...shard, launchTemplateId: d.result.launchTemplateId, reason: why });
      settled.push({ ...d, result: { ...d.result, reason: `${d.result.reason}; deferred to the next run: ${why}` } });
      continue;
    }
    budget -= 1;
    const fixed = await fixTemplate(templatesPorts, d.result, options.now, log);
    if (fixed.verdict === 'error') log.error('template change failed', { ...shard, launchTemplateId: fixed.launchTemplateId, createdVersions: fixed.createdVersions, reason: fixed.reason });
    else log.info('template changed', { ...shard, launchTemplateId: fixed.launchTemplateId, createdVersions: fixed.createdVersions, reason: fixed.reason });
    settled.push({ ...d, result: fixed });
  }
  const templates = settled.map((s) => s.result);

  const findingsPort = ports.findings;
  const findings =
    findingsPort && options.findings
      ? await recordTemplateFindings(findingsPort, shard, settled, {
          partition: options.findings.partition,
          now: options.now,
          log,
          confirmDeleted: async (ids) => {
            const alive = await templatesPorts.ec2.existingTemplates(ids);
            return ids.filter((id) => !alive.has(id));
          },
        })
      : undefined;
  return { templates, launchConfigurations, errors, findings };
};

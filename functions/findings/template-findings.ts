// One ASFF finding per launch template (resource type AwsEc2LaunchTemplate), in the template's
// own account and region: FAILED while its $Default (or a $Latest a group uses) allows IMDSv1,
// PASSED once it requires IMDSv2. Built pure, recorded through the same findings port.
import { describeError } from '../domain/errors.ts';
import type { Log } from '../domain/log.ts';
import type { Shard } from '../domain/model.ts';
import type { TemplateFacts, TemplateMetadata, TemplateResult, TemplateVerdict } from '../domain/templates.ts';
import { shellQuote } from '../domain/shell.ts';
import { pinnedGroupAdvice } from '../domain/template-advice.ts';
import type { ComplianceStatus, SeverityLabel } from '../domain/verdicts.ts';
import {
  asPartition,
  clip,
  clipTags,
  DESCRIPTION_MAX,
  FIELD,
  FINDING_TYPE,
  isUnchangedPass,
  productArn,
  STATE_FIELD,
  TITLE_MAX,
  type AsffFinding,
  type ExistingFinding,
  type LaunchTemplateResource,
} from './asff.ts';
import type { FindingsPort, FindingsQuery } from './port.ts';
import type { FindingsOutcome } from './record.ts';

export const TEMPLATE_GENERATOR_ID = 'imds-remediator/launch-template-imdsv2-required';
const REMEDIATION_URL = 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-new-instances.html';

export const templateFindingIdPrefix = (shard: Shard) => `${FIELD}/${shard.region}/${shard.accountId}/launch-template/`;
export const templateFindingId = (shard: Shard, launchTemplateId: string) => `${templateFindingIdPrefix(shard)}${launchTemplateId}`;

export const templateFindingsQuery = (shard: Shard): FindingsQuery => ({
  accountId: shard.accountId,
  region: shard.region,
  generatorId: TEMPLATE_GENERATOR_ID,
  idPrefix: templateFindingIdPrefix(shard),
});

const SEVERITY: Record<TemplateVerdict, SeverityLabel> = {
  compliant: 'INFORMATIONAL',
  fix: 'MEDIUM',
  'blocked-v1-in-use': 'HIGH',
  blocked: 'MEDIUM',
  'insufficient-evidence': 'LOW',
  exempt: 'INFORMATIONAL',
  error: 'LOW',
};

/** The default version's metadata options after this run: the fixed copy's when the run made it. */
const defaultOptions = (facts: TemplateFacts, result: TemplateResult): { version: number; metadata: TemplateMetadata } => {
  const made = result.changes.findIndex((c) => c.makeDefault);
  const created = made >= 0 ? result.createdVersions[made] : undefined;
  const change = made >= 0 ? result.changes[made] : undefined;
  if (result.changed && created !== undefined && change) {
    const source = facts.versions.get(change.sourceVersion)?.metadata;
    return { version: created, metadata: { httpTokens: 'required', httpEndpoint: source?.httpEndpoint, hopLimit: change.hopLimit ?? source?.hopLimit } };
  }
  const current = facts.versions.get(facts.defaultVersion);
  return { version: facts.defaultVersion, metadata: current?.metadata ?? { httpTokens: undefined, httpEndpoint: undefined, hopLimit: undefined } };
};

const titleOf = (r: TemplateResult): string => {
  const name = `launch template ${r.launchTemplateName} (${r.launchTemplateId})`;
  if (r.changed) return `IMDSv2 required by ${name}: new default version ${r.createdVersions[0] ?? ''}`;
  switch (r.verdict) {
    case 'compliant':
      return r.pinned.length > 0 ? `IMDSv2 required by ${name}, but groups pin a version that allows IMDSv1` : `IMDSv2 required by ${name}`;
    case 'fix':
      return r.allowsV1 ? `IMDSv1 allowed by ${name}, unused by its instances: safe to require IMDSv2` : `Hop limit of ${name} below the policy's`;
    case 'blocked-v1-in-use':
      return `IMDSv1 allowed by ${name}, and its instances use it`;
    case 'blocked':
      return `IMDSv1 allowed by ${name}, left for a person to decide`;
    case 'insufficient-evidence':
      return `IMDSv1 allowed by ${name}, not enough evidence to require IMDSv2`;
    case 'exempt':
      return `IMDSv1 allowed by ${name}, exempt`;
    case 'error':
      return `IMDSv2 check of ${name} failed`;
  }
};

const pinnedAdvice = (r: TemplateResult): string =>
  r.pinned
    .map((p) => `Auto Scaling group ${shellQuote(p.group)} pins version ${p.version}, which allows IMDSv1: ${pinnedGroupAdvice(r.launchTemplateId, p.group, p.version)}.`)
    .join(' ');

const remediationOf = (r: TemplateResult): string => {
  const base =
    r.verdict === 'blocked-v1-in-use'
      ? `Update the software on ${r.v1Users.map((u) => u.instanceId).join(', ')} that still calls IMDS without a token; once the calls stop, imds-remediator makes a new default version that requires IMDSv2.`
      : r.verdict === 'blocked'
        ? `imds-remediator leaves this template to a person (${r.reason.includes('set back') ? 'it was set back to IMDSv1 after the tool fixed it' : 'its $Latest differs from $Default'}): require IMDSv2 where the template is defined (HttpTokens=required), or make $Latest and $Default one version first.`
        : r.allowsV1
          ? `Create a version with --metadata-options HttpTokens=required,HttpEndpoint=enabled and make it the default (aws ec2 create-launch-template-version, aws ec2 modify-launch-template --default-version), or let imds-remediator apply do it once the evidence allows.`
          : 'None needed for $Default: new instances require IMDSv2.';
  return clip([base, pinnedAdvice(r)].filter(Boolean).join(' '), DESCRIPTION_MAX);
};

export interface TemplateFindingInput {
  partition: string;
  shard: Shard;
  facts: TemplateFacts;
  result: TemplateResult;
  now: Date;
  existing?: ExistingFinding | undefined;
}

export const buildTemplateFinding = ({ partition: p, shard, facts, result, now, existing }: TemplateFindingInput): AsffFinding<LaunchTemplateResource> => {
  const at = now.toISOString();
  const partition = asPartition(p);
  const { version, metadata } = defaultOptions(facts, result);
  // Versions that could not be read: the check could not be performed (AWS's NOT_AVAILABLE), not a failure.
  const unread = result.verdict === 'error' && !facts.versions.has(facts.defaultVersion);
  const status: ComplianceStatus = unread ? 'NOT_AVAILABLE' : result.allowsV1 ? 'FAILED' : 'PASSED';
  const severity: SeverityLabel = status === 'PASSED' && result.pinned.length === 0 ? 'INFORMATIONAL' : SEVERITY[result.verdict];
  const options = `HttpTokens=${metadata.httpTokens ?? 'not set'} HttpEndpoint=${metadata.httpEndpoint ?? 'not set'} HopLimit=${metadata.hopLimit ?? 'not set'}`;
  return {
    SchemaVersion: '2018-10-08',
    Id: templateFindingId(shard, result.launchTemplateId),
    ProductArn: productArn(partition, shard),
    GeneratorId: TEMPLATE_GENERATOR_ID,
    AwsAccountId: shard.accountId,
    ...(existing ? {} : { Types: [FINDING_TYPE], Severity: { Label: severity } }),
    CreatedAt: existing?.createdAt ?? at,
    UpdatedAt: at,
    FirstObservedAt: existing?.firstObservedAt ?? at,
    LastObservedAt: at,
    FindingProviderFields: { Severity: { Label: severity }, Types: [FINDING_TYPE] },
    Title: clip(titleOf(result), TITLE_MAX),
    Description: clip(`$Default version ${version}: ${options}; ${result.instances} running instances launched from it. Verdict ${result.verdict}${result.changed ? ' (applied)' : ''}: ${result.reason}`, DESCRIPTION_MAX),
    Remediation: { Recommendation: { Text: remediationOf(result), Url: REMEDIATION_URL } },
    ProductFields: {
      [`${FIELD}/Verdict`]: result.verdict,
      [`${FIELD}/Changed`]: String(result.changed),
      [`${FIELD}/DefaultVersion`]: String(version),
      [`${FIELD}/Instances`]: String(result.instances),
      ...(result.createdVersions.length > 0 ? { [`${FIELD}/CreatedVersions`]: result.createdVersions.join(',') } : {}),
      ...(result.pinned.length > 0 ? { [`${FIELD}/PinnedGroups`]: clip(result.pinned.map((g) => `${g.group}:${g.version}`).join(','), 1024) } : {}),
      [STATE_FIELD]: `${status} ${severity} version=${version} ${options} pinned=${result.pinned.length}`,
    },
    Resources: [
      {
        Type: 'AwsEc2LaunchTemplate',
        Id: `arn:${partition}:ec2:${shard.region}:${shard.accountId}:launch-template/${result.launchTemplateId}`,
        Partition: partition,
        Region: shard.region,
        Tags: clipTags(facts.tags),
        Details: {
          AwsEc2LaunchTemplate: {
            Id: result.launchTemplateId,
            LaunchTemplateName: result.launchTemplateName,
            DefaultVersionNumber: version,
            LatestVersionNumber: Math.max(facts.latestVersion, ...result.createdVersions),
            LaunchTemplateData: {
              MetadataOptions: {
                ...(metadata.httpEndpoint ? { HttpEndpoint: metadata.httpEndpoint } : {}),
                ...(metadata.httpTokens ? { HttpTokens: metadata.httpTokens } : {}),
                ...(metadata.hopLimit !== undefined ? { HttpPutResponseHopLimit: metadata.hopLimit } : {}),
              },
            },
          },
        },
      },
    ],
    Compliance: { Status: status },
    RecordState: 'ACTIVE',
  };
};

/** The ARCHIVED finding of a template EC2 confirms deleted. */
const deletedTemplateFinding = (shard: Shard, existing: ExistingFinding, partition: string, now: Date): AsffFinding => {
  const id = existing.id.slice(templateFindingIdPrefix(shard).length);
  const at = now.toISOString();
  const p = asPartition(partition);
  return {
    SchemaVersion: '2018-10-08',
    Id: existing.id,
    ProductArn: productArn(p, shard),
    GeneratorId: TEMPLATE_GENERATOR_ID,
    AwsAccountId: shard.accountId,
    CreatedAt: existing.createdAt ?? at,
    UpdatedAt: at,
    FirstObservedAt: existing.firstObservedAt ?? at,
    LastObservedAt: at,
    FindingProviderFields: { Severity: { Label: 'INFORMATIONAL' }, Types: [FINDING_TYPE] },
    Title: `launch template ${id} was deleted`,
    Description: 'EC2 no longer has this launch template.',
    Remediation: { Recommendation: { Text: 'None: the launch template no longer exists.', Url: REMEDIATION_URL } },
    ProductFields: { [`${FIELD}/Verdict`]: 'gone' },
    Resources: [
      {
        Type: 'AwsEc2LaunchTemplate',
        Id: `arn:${p}:ec2:${shard.region}:${shard.accountId}:launch-template/${id}`,
        Partition: p,
        Region: shard.region,
        Tags: {},
        Details: { AwsEc2LaunchTemplate: { Id: id, LaunchTemplateName: id, DefaultVersionNumber: 0, LatestVersionNumber: 0, LaunchTemplateData: { MetadataOptions: {} } } },
      },
    ],
    Compliance: { Status: 'NOT_AVAILABLE' },
    RecordState: 'ARCHIVED',
  };
};

export interface TemplateRecordOptions {
  partition: string;
  now: Date;
  log: Log;
  /** The ids among these that EC2 confirms deleted (asked by id); their findings are archived. */
  confirmDeleted: (launchTemplateIds: string[]) => Promise<string[]>;
}

/** Never throws: what could not be imported is returned with its error code (the template id as the resource). */
export const recordTemplateFindings = async (
  port: FindingsPort,
  shard: Shard,
  records: Array<{ facts: TemplateFacts; result: TemplateResult }>,
  options: TemplateRecordOptions,
): Promise<FindingsOutcome> => {
  const { log, now } = options;
  let existing = new Map<string, ExistingFinding>();
  try {
    existing = await port.existing(templateFindingsQuery(shard));
  } catch (error) {
    log.warn('cannot read existing template findings, importing all', { ...shard, reason: describeError(error) });
  }
  const findings = records.map((r) =>
    buildTemplateFinding({ partition: options.partition, shard, facts: r.facts, result: r.result, now, existing: existing.get(templateFindingId(shard, r.result.launchTemplateId)) }),
  );
  const current = new Set(findings.map((f) => f.Id));
  const unexplained = [...existing.values()].filter((e) => !current.has(e.id) && e.recordState === 'ACTIVE').map((e) => ({ e, id: e.id.slice(templateFindingIdPrefix(shard).length) }));
  let deleted = new Set<string>();
  if (unexplained.length > 0) {
    try {
      deleted = new Set(await options.confirmDeleted(unexplained.map((u) => u.id)));
    } catch (error) {
      log.warn('cannot confirm which launch templates are deleted, no finding archived', { ...shard, reason: describeError(error) });
    }
  }
  const archived = unexplained.filter((u) => deleted.has(u.id)).map((u) => deletedTemplateFinding(shard, u.e, options.partition, now));
  const toSend = [...findings.filter((f) => !isUnchangedPass(f, existing.get(f.Id), now)), ...archived];
  let failures = toSend.length > 0 ? await port.importFindings(toSend) : [];
  if (failures.length > 0) {
    const failedIds = new Set(failures.map((f) => f.id));
    failures = await port.importFindings(toSend.filter((f) => failedIds.has(f.Id)));
  }
  const prefix = templateFindingIdPrefix(shard);
  const failed = failures.map((f) => ({ ...shard, instanceId: f.id.slice(prefix.length), findingId: f.id, errorCode: f.errorCode, message: f.message }));
  for (const f of failed) log.error('template finding not imported', { ...shard, launchTemplateId: f.instanceId, errorCode: f.errorCode, reason: f.message });
  return { imported: toSend.length - new Set(failures.map((f) => f.id)).size, unchanged: findings.length - (toSend.length - archived.length), failed };
};

// One ASFF finding per instance, pure: what Security Hub (and its auditors) should see.
import { TAG_HOP_LIMIT_RAISED_AT, TAG_HOP_LIMIT_SET_AT, TAG_REVERTED_AT } from '../domain/tags.ts';
import type { InstanceFacts, InstanceResult, MetadataOptions, Shard } from '../domain/model.ts';
import { DAY_MS } from '../domain/time.ts';
import { shellQuote } from '../domain/shell.ts';
import { requiresTokensOnceApplied, VERDICT_TABLE, type ComplianceStatus, type SeverityLabel } from '../domain/verdicts.ts';

export const GENERATOR_ID = 'imds-remediator/imdsv2-required';
export const FINDING_TYPE = 'Software and Configuration Checks/AWS Security Best Practices';
const REMEDIATION_URL = 'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-existing-instances.html';
export const FIELD = 'imds-remediator';
/** ProductFields key of the state a PASSED finding stands for; unchanged state → no re-import. */
export const STATE_FIELD = `${FIELD}/State`;
/**
 * ProductFields key of when this tool enforced IMDSv2 on the instance. Written only from the
 * tool's own change and carried from one import to the next, never copied from the instance's
 * tag, which anyone who may tag the instance can write: the rollback watch compares the two.
 */
export const ENFORCED_AT_FIELD = `${FIELD}/EnforcedAt`;

export const TITLE_MAX = 256;
export const DESCRIPTION_MAX = 1024;
const TAGS_MAX = 50;
const TAG_VALUE_MAX = 256;

export type Partition = 'aws' | 'aws-cn' | 'aws-us-gov';

export interface InstanceResource {
  Type: 'AwsEc2Instance';
  Id: string;
  Partition: Partition;
  Region: string;
  Tags: Record<string, string>;
  Details: {
    AwsEc2Instance: {
      IamInstanceProfileArn?: string;
      LaunchedAt?: string;
      MetadataOptions: { HttpEndpoint: string; HttpTokens: string; HttpPutResponseHopLimit: number };
    };
  };
}

/** ASFF's AwsEc2LaunchTemplateDetails, the part we write: the default version's metadata options. */
export interface LaunchTemplateResource {
  Type: 'AwsEc2LaunchTemplate';
  Id: string;
  Partition: Partition;
  Region: string;
  Tags: Record<string, string>;
  Details: {
    AwsEc2LaunchTemplate: {
      Id: string;
      LaunchTemplateName: string;
      DefaultVersionNumber: number;
      LatestVersionNumber: number;
      LaunchTemplateData: { MetadataOptions: { HttpEndpoint?: string; HttpTokens?: string; HttpPutResponseHopLimit?: number } };
    };
  };
}

/**
 * The ASFF subset we write, field names as BatchImportFindings wants them. Region is left
 * out: Security Hub sets it from the endpoint the finding is imported through.
 */
export interface AsffFinding<R extends InstanceResource | LaunchTemplateResource = InstanceResource | LaunchTemplateResource> {
  SchemaVersion: '2018-10-08';
  Id: string;
  ProductArn: string;
  GeneratorId: string;
  AwsAccountId: string;
  /** Only on creation: afterwards the top-level fields belong to the customer (FindingProviderFields carries ours). */
  Types?: string[];
  CreatedAt: string;
  UpdatedAt: string;
  FirstObservedAt: string;
  LastObservedAt: string;
  /** Only on creation, like Types. */
  Severity?: { Label: SeverityLabel };
  /** Where a provider updates Severity and Types after creation (top-level ones may be the customer's). */
  FindingProviderFields: { Severity: { Label: SeverityLabel }; Types: string[] };
  Title: string;
  Description: string;
  Remediation: { Recommendation: { Text: string; Url: string } };
  ProductFields: Record<string, string>;
  Resources: R[];
  Compliance: { Status: ComplianceStatus };
  /** Set only when an exempt instance's finding is created: a provider cannot change it afterwards. */
  Workflow?: { Status: 'SUPPRESSED' };
  RecordState: 'ACTIVE' | 'ARCHIVED';
}

/** What an earlier import left in Security Hub, as far as the next import cares. */
export interface ExistingFinding {
  id: string;
  complianceStatus: string | undefined;
  recordState: string | undefined;
  state: string | undefined;
  createdAt: string | undefined;
  firstObservedAt: string | undefined;
  /** When it was last imported: Security Hub deletes it 90 days after that. */
  updatedAt?: string | undefined;
  /** The metadata options it last recorded: all that is known of an instance EC2 no longer lists. */
  lastOptions?: { httpTokens: string; httpEndpoint: string; hopLimit: number } | undefined;
  /** When it records that this tool enforced IMDSv2 (ENFORCED_AT_FIELD); undefined when it records none. */
  enforcedAt?: string | undefined;
}

export interface FindingInput {
  partition: string;
  shard: Shard;
  /** As read before acting. */
  facts: InstanceFacts;
  /** After acting: `changed` means EC2 showed the new options applied. */
  result: InstanceResult;
  lookbackDays: number;
  minObservedDays: number;
  now: Date;
  existing?: ExistingFinding | undefined;
}

/** Every finding of one account-region starts with this. */
export const findingIdPrefix = (shard: Shard) => `${FIELD}/${shard.region}/${shard.accountId}/`;
export const findingId = (shard: Shard, instanceId: string) => `${findingIdPrefix(shard)}${instanceId}`;

export const productArn = (partition: string, shard: Shard) =>
  `arn:${partition}:securityhub:${shard.region}:${shard.accountId}:product/${shard.accountId}/default`;

export const asPartition = (p: string): Partition => (p === 'aws-cn' || p === 'aws-us-gov' ? p : 'aws');

/** The options the instance has now: what EC2 showed after a change, else what was read. */
export const currentOptions = (facts: InstanceFacts, result: InstanceResult): MetadataOptions => {
  const { change } = VERDICT_TABLE[result.verdict];
  if (!result.changed || change.kind !== 'modify') return facts.metadata;
  const httpTokens = change.httpTokens === 'keep' ? facts.metadata.httpTokens : change.httpTokens;
  const httpEndpoint = change.httpTokens === 'keep' ? facts.metadata.httpEndpoint : 'enabled';
  return { httpTokens, httpEndpoint, hopLimit: result.hopLimit, state: 'applied' };
};

/** Applied enforcement (or hop limit) leaves IMDSv2 required: PASSED. A raise or a revert leaves IMDSv1 allowed. */
const passedByChange = (result: InstanceResult): boolean => result.changed && requiresTokensOnceApplied(result.verdict);

/**
 * Whether IMDSv1 is allowed, whatever the verdict: FAILED whenever it is (insufficient
 * evidence and exemptions included), PASSED when tokens are required or IMDS is off,
 * NOT_AVAILABLE only when the instance's state could not be read (it is gone).
 */
export const complianceOf = (result: InstanceResult, options: MetadataOptions): ComplianceStatus => {
  if (result.verdict === 'gone') return 'NOT_AVAILABLE';
  return options.httpEndpoint === 'enabled' && options.httpTokens === 'optional' ? 'FAILED' : 'PASSED';
};

/** Security Hub deletes a finding 90 days after its last update: a PASSED one is refreshed well before. */
export const REFRESH_AFTER_DAYS = 30;

/** v1 in use where an instance profile's credentials can be read through it is the worst case. */
export const severityOf = (result: InstanceResult, facts: InstanceFacts): SeverityLabel => {
  if (passedByChange(result)) return 'INFORMATIONAL';
  const { severity } = VERDICT_TABLE[result.verdict];
  return facts.instanceProfileArn !== undefined ? severity.withProfile : severity.withoutProfile;
};

const titleOf = (result: InstanceResult, options: MetadataOptions, facts: InstanceFacts): string => {
  const id = result.instanceId;
  if (result.verdict === 'v1-rejected') {
    return result.changed
      ? `IMDSv1 calls rejected on ${id} after IMDSv2 was enforced: reverted to IMDSv1-optional`
      : `IMDSv1 calls rejected on ${id} since IMDSv2 was enforced: a workload is failing`;
  }
  if (result.verdict === 'possible-ssrf-probe') {
    return `IMDSv1 calls rejected on ${id} long after IMDSv2 was enforced: possible SSRF probe`;
  }
  if (result.verdict === 'raise-hop-limit') {
    return result.changed
      ? `Hop limit of ${id} raised to ${result.hopLimit}, IMDSv1 still allowed: its IMDSv1 calls are measured again`
      : `IMDSv1 in use on ${id}: ${result.noTokenCalls ?? 0} calls; hop limit to raise to ${result.hopLimit} first`;
  }
  if (result.changed || result.verdict === 'compliant') {
    return options.httpEndpoint === 'disabled' ? `IMDS disabled on ${id}` : `IMDSv2 required on ${id}`;
  }
  switch (result.verdict) {
    case 'blocked-v1-in-use':
      return result.noTokenCalls === null
        ? `IMDSv1 in use by the siblings of ${id}, not enforced`
        : `IMDSv1 in use on ${id}: ${result.noTokenCalls} calls, not enforced`;
    case 'enforce':
      return `IMDSv1 allowed on ${id}, unused and safe to enforce`;
    case 'reopened-after-enforcement':
      return `IMDSv1 re-opened on ${id} after it was enforced: left open`;
    case 'fix-hop-limit':
      return `IMDSv2 hop limit ${facts.metadata.hopLimit} on ${id}, policy wants ${result.hopLimit}`;
    case 'hop-limit-above-policy':
      return `IMDSv2 required on ${id}, hop limit ${facts.metadata.hopLimit} above the policy's, kept`;
    case 'insufficient-evidence':
      return `IMDSv1 allowed on ${id}, not enough evidence to enforce`;
    case 'exempt':
      return `IMDSv1 allowed on ${id}, exempt by policy`;
    case 'error':
      return `IMDSv2 check failed on ${id}`;
    case 'gone':
      return `${id} was terminated`;
  }
};

const remediationOf = (result: InstanceResult, minObserved: string): string => {
  const command = `aws ec2 modify-instance-metadata-options --instance-id ${shellQuote(result.instanceId)} --http-tokens required --http-endpoint enabled --http-put-response-hop-limit ${result.hopLimit}`;
  if (result.verdict === 'v1-rejected') {
    return 'A workload on this instance still calls IMDS without a token and is being refused (MetadataNoTokenRejected). Update its AWS SDK or agent to one that uses IMDSv2 (on a container host, check the hop limit), or set rollback: revert in the policy to have imds-remediator re-open IMDSv1 until it is fixed.';
  }
  if (result.verdict === 'possible-ssrf-probe') {
    return 'Calls to IMDS without a token are being refused on this instance, and they began too long after IMDSv2 was enforced to be a workload the enforcement broke. Find what sends them: a request forgery (SSRF) through an application on this instance looks exactly like this. IMDSv1 stays closed; imds-remediator never re-opens it for these calls.';
  }
  if (result.verdict === 'raise-hop-limit') {
    return `A container on this host may call IMDSv1 only because its token PUT could not reach IMDS at the old hop limit. imds-remediator raises the hop limit to ${result.hopLimit} with IMDSv1 still allowed (IMDSv1 calls are not hop-limited, so nothing breaks), measures again, and enforces IMDSv2 once the calls stop. If they do not stop, update the software still calling IMDS without a token.`;
  }
  if (result.changed || result.verdict === 'compliant') return 'None needed: IMDSv2 is required (or IMDS is off).';
  switch (result.verdict) {
    case 'blocked-v1-in-use':
      return 'Find and update the software still calling IMDS without a token (the MetadataNoToken metric counts the calls; a container host whose hop limit is below what its rule wants gets it raised first, as raise-hop-limit). Once the calls stop, imds-remediator enforces IMDSv2.';
    case 'enforce':
      return `No IMDSv1 calls were seen: run imds-remediator apply with policy mode enforce, or ${command}`;
    case 'reopened-after-enforcement':
      return `Someone set HttpTokens back to optional after imds-remediator enforced IMDSv2, so it leaves the instance open rather than fight them. Find out why (a workload that failed, infrastructure as code that declares optional), fix it, then run ${command} or remove the tag imds-remediator:reopened-at to let imds-remediator enforce it again.`;
    case 'fix-hop-limit':
      return `Set the hop limit the policy wants: imds-remediator apply, or ${command}`;
    case 'hop-limit-above-policy':
      return 'The hop limit is higher than the policy wants and is kept (hopLimit.lower: report): containers on this host may need it to reach IMDS. Lower it by hand once you know they do not, or tag the instance so that a hop-limit rule wants this value.';
    case 'insufficient-evidence':
      return `Wait until MetadataNoToken has datapoints on ${minObserved}, or enforce it on purpose with force.instanceIds in the policy.`;
    case 'exempt':
      return 'Exempt by the imds-remediator policy (tag, account or OU). Remove the exemption to have it checked and enforced.';
    case 'error':
      return 'A call failed while checking or changing this instance (see the description); the next sweep tries again.';
    case 'gone':
      return 'None: the instance no longer exists.';
  }
};

export const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

export const clipTags = (tags: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(tags)
      .slice(0, TAGS_MAX)
      .map(([k, v]) => [k, clip(v, TAG_VALUE_MAX)]),
  );

/** The state a PASSED finding asserts: when it is the same next time, nothing needs importing. */
export const stateKey = (status: ComplianceStatus, severity: SeverityLabel, options: MetadataOptions) =>
  `${status} ${severity} HttpTokens=${options.httpTokens} HttpEndpoint=${options.httpEndpoint} HopLimit=${options.hopLimit}`;

export const buildFinding = (input: FindingInput): AsffFinding<InstanceResource> => {
  const { facts, result, shard, now } = input;
  const at = now.toISOString();
  const options = currentOptions(facts, result);
  const status = complianceOf(result, options);
  const severity = severityOf(result, facts);
  const evidence =
    result.observedDays === 0
      ? `no MetadataNoToken datapoints over the last ${input.lookbackDays} days: IMDSv1 use is unknown, not zero`
      : result.noTokenCalls === null
      ? 'MetadataNoToken was not needed for this verdict'
      : `${result.noTokenCalls} IMDSv1 calls (MetadataNoToken) over the last ${input.lookbackDays} days, ${result.observedDays ?? 0} days observed`;
  const profile = facts.instanceProfileArn ? 'an instance profile is attached' : 'no instance profile';
  const description =
    `HttpTokens=${options.httpTokens}, HttpEndpoint=${options.httpEndpoint}, hop limit ${options.hopLimit}; ${profile}. ` +
    `${evidence}. Verdict ${result.verdict}${result.changed ? ' (applied)' : ''}: ${result.reason}`;

  // The tool's own enforcement, or the one an earlier finding recorded; never the tag (see ENFORCED_AT_FIELD).
  const enforcedAt = result.changed && result.verdict === 'enforce' ? at : input.existing?.enforcedAt;
  const revertedAt = result.changed && result.verdict === 'v1-rejected' ? at : facts.tags[TAG_REVERTED_AT];
  const hopLimitSetAt = result.changed && result.verdict === 'fix-hop-limit' ? at : facts.tags[TAG_HOP_LIMIT_SET_AT];
  const hopLimitRaisedAt = result.changed && result.verdict === 'raise-hop-limit' ? at : facts.tags[TAG_HOP_LIMIT_RAISED_AT];
  const productFields: Record<string, string> = {
    [`${FIELD}/Verdict`]: result.verdict,
    [`${FIELD}/Changed`]: String(result.changed),
    [`${FIELD}/NoTokenCalls`]: result.observedDays === 0 ? 'unknown' : result.noTokenCalls === null ? 'not read' : String(result.noTokenCalls),
    [`${FIELD}/ObservedDays`]: result.observedDays === null ? 'not read' : String(result.observedDays),
    [`${FIELD}/HopLimitWanted`]: String(result.hopLimit),
    [STATE_FIELD]: stateKey(status, severity, options),
  };
  if (enforcedAt) productFields[ENFORCED_AT_FIELD] = enforcedAt;
  if (hopLimitSetAt) productFields[`${FIELD}/HopLimitSetAt`] = hopLimitSetAt;
  if (hopLimitRaisedAt) productFields[`${FIELD}/HopLimitRaisedAt`] = hopLimitRaisedAt;
  if (revertedAt) productFields[`${FIELD}/RevertedAt`] = revertedAt;

  const partition = asPartition(input.partition);
  return {
    SchemaVersion: '2018-10-08',
    Id: findingId(shard, result.instanceId),
    ProductArn: productArn(partition, shard),
    GeneratorId: GENERATOR_ID,
    AwsAccountId: shard.accountId,
    ...(input.existing ? {} : { Types: [FINDING_TYPE], Severity: { Label: severity } }),
    CreatedAt: input.existing?.createdAt ?? at,
    UpdatedAt: at,
    FirstObservedAt: input.existing?.firstObservedAt ?? at,
    LastObservedAt: at,
    FindingProviderFields: { Severity: { Label: severity }, Types: [FINDING_TYPE] },
    Title: clip(titleOf(result, options, facts), TITLE_MAX),
    Description: clip(description, DESCRIPTION_MAX),
    Remediation: {
      Recommendation: {
        Text: remediationOf(result, `at least ${input.minObservedDays} days (minObservedDays)`),
        Url: REMEDIATION_URL,
      },
    },
    ProductFields: productFields,
    Resources: [
      {
        Type: 'AwsEc2Instance',
        Id: `arn:${partition}:ec2:${shard.region}:${shard.accountId}:instance/${result.instanceId}`,
        Partition: partition,
        Region: shard.region,
        Tags: clipTags(facts.tags),
        Details: {
          AwsEc2Instance: {
            ...(facts.instanceProfileArn ? { IamInstanceProfileArn: facts.instanceProfileArn } : {}),
            ...(facts.launchTime ? { LaunchedAt: facts.launchTime.toISOString() } : {}),
            MetadataOptions: {
              HttpEndpoint: options.httpEndpoint,
              HttpTokens: options.httpTokens,
              HttpPutResponseHopLimit: options.hopLimit,
            },
          },
        },
      },
    ],
    Compliance: { Status: status },
    RecordState: result.verdict === 'gone' ? 'ARCHIVED' : 'ACTIVE',
    ...(result.verdict === 'exempt' && !input.existing ? { Workflow: { Status: 'SUPPRESSED' as const } } : {}),
  };
};

/** A PASSED finding whose state is what Security Hub already holds costs money and says nothing new. */
export const isUnchangedPass = (finding: AsffFinding, existing: ExistingFinding | undefined, now: Date): boolean =>
  finding.Compliance.Status === 'PASSED' &&
  existing !== undefined &&
  existing.complianceStatus === 'PASSED' &&
  existing.recordState === 'ACTIVE' &&
  existing.state === finding.ProductFields[STATE_FIELD] &&
  // An unknown age is refreshed: a finding Security Hub deleted cannot be refreshed later.
  existing.updatedAt !== undefined &&
  now.getTime() - Date.parse(existing.updatedAt) < REFRESH_AFTER_DAYS * DAY_MS;

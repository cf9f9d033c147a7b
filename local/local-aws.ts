// Seeds an emulated organization through the real SDK: accounts, instances, MetadataNoToken.
import { CloudWatchClient, PutMetricDataCommand, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  SetDesiredCapacityCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type RequestLaunchTemplateData,
  type Tag,
} from '@aws-sdk/client-ec2';
import {
  CreateAccountCommand,
  CreateOrganizationCommand,
  CreateOrganizationalUnitCommand,
  ListRootsCommand,
  MoveAccountCommand,
  OrganizationsClient,
} from '@aws-sdk/client-organizations';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';

export const MANAGEMENT_ACCOUNT = '123456789012';
const DAY_MS = 86_400_000;
const AMI = 'ami-12c6146b';

export interface InstanceSpec {
  tags?: Record<string, string>;
  httpTokens?: 'optional' | 'required';
  httpEndpoint?: 'enabled' | 'disabled';
  hopLimit?: number;
  count?: number;
}

/** Seeding helper; `region` is the home region for Organizations and STS. */
export class LocalAws {
  readonly #creds = new Map<string, AwsCredentialIdentity>();
  readonly org: OrganizationsClient;
  readonly sts: STSClient;

  constructor(readonly region = 'us-east-1') {
    this.org = new OrganizationsClient({ region });
    this.sts = new STSClient({ region });
  }

  /** An organization whose management account is moto's default account, plus members. */
  async createOrganization(memberNames: string[]): Promise<string[]> {
    await this.org.send(new CreateOrganizationCommand({ FeatureSet: 'ALL' }));
    const ids: string[] = [];
    for (const name of memberNames) {
      const out = await this.org.send(new CreateAccountCommand({ AccountName: name, Email: `${name}@example.com` }));
      const id = out.CreateAccountStatus?.AccountId;
      if (!id) throw new Error(`CreateAccount ${name} returned no account id`);
      ids.push(id);
    }
    return ids;
  }

  async createOu(name: string, accountIds: string[]): Promise<string> {
    const roots = await this.org.send(new ListRootsCommand({}));
    const rootId = roots.Roots?.[0]?.Id ?? '';
    const ou = await this.org.send(new CreateOrganizationalUnitCommand({ ParentId: rootId, Name: name }));
    const ouId = ou.OrganizationalUnit?.Id ?? '';
    for (const AccountId of accountIds) {
      await this.org.send(new MoveAccountCommand({ AccountId, SourceParentId: rootId, DestinationParentId: ouId }));
    }
    return ouId;
  }

  async credentials(accountId: string): Promise<AwsCredentialIdentity | undefined> {
    if (accountId === MANAGEMENT_ACCOUNT) return undefined;
    const cached = this.#creds.get(accountId);
    if (cached) return cached;
    const out = await this.sts.send(
      new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/seeder`, RoleSessionName: 'seed' }),
    );
    const c = out.Credentials;
    const creds = { accessKeyId: c?.AccessKeyId ?? '', secretAccessKey: c?.SecretAccessKey ?? '', sessionToken: c?.SessionToken };
    this.#creds.set(accountId, creds);
    return creds;
  }

  async ec2(accountId: string, region: string): Promise<EC2Client> {
    return new EC2Client({ region, credentials: await this.credentials(accountId) });
  }

  async runInstances(accountId: string, region: string, spec: InstanceSpec = {}): Promise<string[]> {
    const ec2 = await this.ec2(accountId, region);
    const tags: Tag[] = Object.entries(spec.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: AMI,
        InstanceType: 't3.micro',
        MinCount: spec.count ?? 1,
        MaxCount: spec.count ?? 1,
        MetadataOptions: {
          HttpTokens: spec.httpTokens ?? 'optional',
          HttpEndpoint: spec.httpEndpoint ?? 'enabled',
          HttpPutResponseHopLimit: spec.hopLimit ?? 1,
        },
        TagSpecifications: tags.length > 0 ? [{ ResourceType: 'instance', Tags: tags }] : undefined,
      }),
    );
    return (out.Instances ?? []).map((i) => i.InstanceId ?? '');
  }

  async terminate(accountId: string, region: string, instanceIds: string[]) {
    await (await this.ec2(accountId, region)).send(new TerminateInstancesCommand({ InstanceIds: instanceIds }));
  }

  /** A launch template (tagged with `tags`) with this launch data; returns its id. */
  async createLaunchTemplate(accountId: string, region: string, name: string, data: RequestLaunchTemplateData, tags: Record<string, string> = {}): Promise<string> {
    const ec2 = await this.ec2(accountId, region);
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    const out = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: name,
        LaunchTemplateData: data,
        TagSpecifications: Tags.length > 0 ? [{ ResourceType: 'launch-template', Tags }] : undefined,
      }),
    );
    const id = out.LaunchTemplate?.LaunchTemplateId;
    if (!id) throw new Error(`CreateLaunchTemplate ${name} returned no id`);
    return id;
  }

  /** Another version of a template (it becomes $Latest, not $Default); returns its number. */
  async addLaunchTemplateVersion(accountId: string, region: string, launchTemplateId: string, data: RequestLaunchTemplateData): Promise<number> {
    const ec2 = await this.ec2(accountId, region);
    const out = await ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: launchTemplateId, LaunchTemplateData: data }));
    return out.LaunchTemplateVersion?.VersionNumber ?? 0;
  }

  /**
   * Instances launched from a template, as EC2 tags them (aws:ec2launchtemplate:id and :version).
   * moto does not give them the template's MetadataOptions: the options are set here, as a launch would.
   */
  async runFromTemplate(accountId: string, region: string, launchTemplateId: string, spec: Omit<InstanceSpec, 'tags'> & { version?: string } = {}): Promise<string[]> {
    const ec2 = await this.ec2(accountId, region);
    const out = await ec2.send(
      new RunInstancesCommand({
        MinCount: spec.count ?? 1,
        MaxCount: spec.count ?? 1,
        LaunchTemplate: { LaunchTemplateId: launchTemplateId, Version: spec.version ?? '$Default' },
        MetadataOptions: {
          HttpTokens: spec.httpTokens ?? 'optional',
          HttpEndpoint: spec.httpEndpoint ?? 'enabled',
          HttpPutResponseHopLimit: spec.hopLimit ?? 1,
        },
      }),
    );
    return (out.Instances ?? []).map((i) => i.InstanceId ?? '');
  }

  /** An Auto Scaling group on a launch template with IMDSv1 open, as the AWS console used to make them. */
  async createAutoScalingGroup(accountId: string, region: string, name: string, size: number) {
    const credentials = await this.credentials(accountId);
    const ec2 = new EC2Client({ region, credentials });
    const template = await ec2.send(
      new CreateLaunchTemplateCommand({
        // A group's name may hold any text; a launch template's only these characters.
        LaunchTemplateName: `${name.replace(/[^\w().\-/]/g, '_')}-template`,
        LaunchTemplateData: { ImageId: AMI, InstanceType: 't3.micro', MetadataOptions: { HttpTokens: 'optional', HttpPutResponseHopLimit: 1 } },
      }),
    );
    const autoscaling = new AutoScalingClient({ region, credentials });
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 100,
        DesiredCapacity: size,
        LaunchTemplate: { LaunchTemplateId: template.LaunchTemplate?.LaunchTemplateId },
        AvailabilityZones: [`${region}a`],
      }),
    );
    const members = async () => {
      const out = await autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
      return (out.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => i.InstanceId ?? '');
    };
    const initial = await members();
    return {
      instanceIds: initial,
      /** Scales out by n and returns the new instances, as a RunInstances event would name them. */
      scaleOut: async (n: number) => {
        const before = new Set(await members());
        await autoscaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: name, DesiredCapacity: before.size + n }));
        return (await members()).filter((id) => !before.has(id));
      },
    };
  }

  /**
   * Daily MetadataNoToken sums: `daily[0]` is today, `daily[1]` yesterday, and so on.
   * A datapoint of 0 is an observed day without v1 calls; a missing day is unobserved.
   */
  async putNoTokenCalls(accountId: string, region: string, series: Record<string, number[]>, now = new Date()) {
    await this.putDailyMetric('MetadataNoToken', accountId, region, series, now);
  }

  /** MetadataNoTokenRejected: v1 calls refused because the instance requires tokens. */
  async putRejectedCalls(accountId: string, region: string, series: Record<string, number[]>, now = new Date()) {
    await this.putDailyMetric('MetadataNoTokenRejected', accountId, region, series, now);
  }

  async putDailyMetric(metric: string, accountId: string, region: string, series: Record<string, number[]>, now = new Date()) {
    const startOfToday = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
    const sinceMidnight = now.getTime() - startOfToday;
    const data: MetricDatum[] = Object.entries(series).flatMap(([instanceId, daily]) =>
      daily.map((value, day) => ({
        MetricName: metric,
        Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
        // Inside that day's bucket and never in the future.
        Timestamp: new Date(startOfToday - day * DAY_MS + (day === 0 ? Math.floor(sinceMidnight / 2) : DAY_MS / 2)),
        Value: value,
        Unit: 'Count',
      })),
    );
    // moto cannot read the gzip bodies the SDK sends for large PutMetricData calls.
    const cloudwatch = new CloudWatchClient({ region, credentials: await this.credentials(accountId), disableRequestCompression: true });
    for (let i = 0; i < data.length; i += 1000) {
      await cloudwatch.send(new PutMetricDataCommand({ Namespace: 'AWS/EC2', MetricData: data.slice(i, i + 1000) }));
    }
  }
}

/** n observed days with no v1 calls, or with `calls` spread over them. */
export const days = (n: number, calls = 0): number[] =>
  Array.from({ length: n }, (_, d) => (d === 0 ? calls : 0));

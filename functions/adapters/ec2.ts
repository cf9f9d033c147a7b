import {
  CreateTagsCommand,
  DescribeRegionsCommand,
  GetInstanceMetadataDefaultsCommand,
  ModifyInstanceMetadataOptionsCommand,
  paginateDescribeInstances,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import type { InstanceFacts, MetadataOptions } from '../domain/model.ts';
import { InstanceGoneError, InstanceNotReadyError, UnsupportedChangeError } from '../domain/errors.ts';
import type { Ec2Port } from '../pipeline/ports.ts';
import { chunks } from '../domain/time.ts';
import { boundedPages } from './pages.ts';

/** What the member role must allow for this adapter (infra mirrors this list). */
export const EC2_IAM_ACTIONS = [
  'ec2:DescribeRegions',
  'ec2:DescribeInstances',
  'ec2:ModifyInstanceMetadataOptions',
  'ec2:CreateTags',
  'ec2:GetInstanceMetadataDefaults',
] as const;

const GONE = new Set(['terminated', 'shutting-down']);
// DescribeInstances takes at most 200 values in one filter.
const FILTER_VALUES_MAX = 200;
/** 1,000 pages of 1,000 instances: far beyond any one account-region's quota of instances. */
const MAX_LIST_PAGES = 1_000;
/** A filter of at most 200 ids or tag values answers in a few pages. */
const MAX_FILTERED_PAGES = 100;

const toMetadata = (i: Instance): MetadataOptions => ({
  httpTokens: i.MetadataOptions?.HttpTokens === 'required' ? 'required' : 'optional',
  httpEndpoint: i.MetadataOptions?.HttpEndpoint === 'disabled' ? 'disabled' : 'enabled',
  hopLimit: i.MetadataOptions?.HttpPutResponseHopLimit ?? 1,
  state: i.MetadataOptions?.State === 'pending' ? 'pending' : 'applied',
});

const toFacts = (i: Instance & { InstanceId: string }): InstanceFacts => ({
  instanceId: i.InstanceId,
  state: i.State?.Name ?? 'unknown',
  launchTime: i.LaunchTime,
  tags: Object.fromEntries((i.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? '']] : []))),
  metadata: toMetadata(i),
  instanceProfileArn: i.IamInstanceProfile?.Arn,
});


/** EC2's error codes, as the SDK names them (`name`, and `Code` on some paths). */
const errorCodes = (error: unknown): string[] =>
  error instanceof Error ? [error.name, String((error as { Code?: unknown }).Code ?? '')] : [];

/** EC2's answers that mean something for one instance become domain errors, keeping the cause. */
const translate = (error: unknown): unknown => {
  const codes = errorCodes(error);
  const message = error instanceof Error ? error.message : String(error);
  if (codes.includes('InvalidInstanceID.NotFound')) return new InstanceGoneError(message, { cause: error });
  if (codes.includes('IncorrectInstanceState')) return new InstanceNotReadyError(message, { cause: error });
  if (codes.includes('UnsupportedOperation')) return new UnsupportedChangeError(message, { cause: error });
  return error;
};

const live = (i: Instance): i is Instance & { InstanceId: string } => Boolean(i.InstanceId) && !GONE.has(i.State?.Name ?? '');

export class Ec2Adapter implements Ec2Port {
  constructor(private readonly ec2: EC2Client) {}

  async enabledRegions(): Promise<string[]> {
    const out = await this.ec2.send(new DescribeRegionsCommand({ AllRegions: false }));
    return (out.Regions ?? [])
      .filter((r) => r.OptInStatus !== 'not-opted-in')
      .flatMap((r) => (r.RegionName ? [r.RegionName] : []));
  }

  async listInstances(timeUp?: () => boolean): Promise<InstanceFacts[]> {
    const facts: InstanceFacts[] = [];
    // HttpTokens is filtered here, not by the server: we need every instance anyway.
    const pages = paginateDescribeInstances({ client: this.ec2, pageSize: 1000 }, {});
    for await (const page of boundedPages('DescribeInstances', pages, MAX_LIST_PAGES, timeUp)) {
      for (const reservation of page.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) if (live(instance)) facts.push(toFacts(instance));
      }
    }
    return facts;
  }

  /** Filtered DescribeInstances: a filter (not InstanceIds) so that one vanished id does not fail the batch. */
  async #describeWhere(name: string, values: string[]): Promise<Array<Instance & { InstanceId: string }>> {
    const found: Array<Instance & { InstanceId: string }> = [];
    for (const batch of chunks([...new Set(values)], FILTER_VALUES_MAX)) {
      const pages = paginateDescribeInstances({ client: this.ec2 }, { Filters: [{ Name: name, Values: batch }] });
      for await (const page of boundedPages('DescribeInstances', pages, MAX_FILTERED_PAGES)) {
        for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) if (live(i)) found.push(i);
      }
    }
    return found;
  }

  async describeInstances(instanceIds: string[]): Promise<InstanceFacts[]> {
    return (await this.#describeWhere('instance-id', instanceIds)).map(toFacts);
  }

  async findInstancesByTag(key: string, values: string[]): Promise<InstanceFacts[]> {
    return (await this.#describeWhere(`tag:${key}`, values)).map(toFacts);
  }

  async readMetadataOptions(instanceIds: string[]): Promise<Map<string, MetadataOptions>> {
    const found = await this.#describeWhere('instance-id', instanceIds);
    return new Map(found.map((i) => [i.InstanceId, toMetadata(i)]));
  }

  async setMetadataOptions(instanceId: string, httpTokens: 'required' | 'optional', hopLimit: number): Promise<void> {
    try {
      // All three together: on AWS omitted options keep their value, but moto resets them.
      await this.ec2.send(
        new ModifyInstanceMetadataOptionsCommand({
          InstanceId: instanceId,
          HttpTokens: httpTokens,
          HttpEndpoint: 'enabled',
          HttpPutResponseHopLimit: hopLimit,
        }),
      );
    } catch (error) {
      throw translate(error);
    }
  }

  async setHopLimit(instanceId: string, hopLimit: number): Promise<void> {
    try {
      // The hop limit alone: a raise must not name HttpTokens=optional, which the member role refuses.
      await this.ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: instanceId, HttpPutResponseHopLimit: hopLimit }));
    } catch (error) {
      throw translate(error);
    }
  }

  async metadataDefaultsManager(): Promise<{ managedBy: 'account' | 'declarative-policy'; message: string | undefined }> {
    const out = await this.ec2.send(new GetInstanceMetadataDefaultsCommand({}));
    const level = out.AccountLevel;
    return { managedBy: level?.ManagedBy === 'declarative-policy' ? 'declarative-policy' : 'account', message: level?.ManagedExceptionMessage };
  }

  async tagInstances(instanceIds: string[], tags: Record<string, string>): Promise<void> {
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    // CreateTags takes up to 1000 resources a call.
    for (const batch of chunks(instanceIds, 1000)) {
      try {
        await this.ec2.send(new CreateTagsCommand({ Resources: batch, Tags }));
      } catch (error) {
        throw translate(error);
      }
    }
  }
}

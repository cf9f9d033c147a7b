// EC2 launch templates: list them, read their versions, and write a fixed copy as a new version.
import {
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DescribeLaunchTemplatesCommand,
  ModifyLaunchTemplateCommand,
  paginateDescribeLaunchTemplates,
  paginateDescribeLaunchTemplateVersions,
  type EC2Client,
  type LaunchTemplateVersion,
  type RequestLaunchTemplateData,
  type ResponseLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import { TemplateCopyMismatchError, TemplateFixNotAllowedError } from '../domain/errors.ts';
import type { TemplateChange, TemplateVersionFacts } from '../domain/templates.ts';
import type { LaunchTemplatesPort, TemplateListing } from '../pipeline/ports.ts';
import { boundedPages } from './pages.ts';

/** What the member role must allow for this adapter (infra mirrors this list; CreateTags on launch templates). */
export const LAUNCH_TEMPLATE_IAM_ACTIONS = [
  'ec2:DescribeLaunchTemplates',
  'ec2:DescribeLaunchTemplateVersions',
  'ec2:CreateLaunchTemplateVersion',
  'ec2:ModifyLaunchTemplate',
  'ec2:CreateTags',
] as const;

/** 1,000 pages of 200 templates: far beyond the account-region quota of 5,000 templates. */
const MAX_TEMPLATE_PAGES = 1_000;
/** One template's few versions answer in a page or two. */
const MAX_VERSION_PAGES = 20;
/** How the versions this tool creates describe themselves (with a time in it before the description became fixed). */
const FIXED_DESCRIPTION = /^imds-remediator[ :]/;

const tagsOf = (tags: Array<{ Key?: string | undefined; Value?: string | undefined }> | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? '']] : [])));

const toVersion = (v: LaunchTemplateVersion & { VersionNumber: number }): TemplateVersionFacts => {
  const m = v.LaunchTemplateData?.MetadataOptions;
  const tokens = m?.HttpTokens;
  const endpoint = m?.HttpEndpoint;
  return {
    versionNumber: v.VersionNumber,
    metadata: {
      httpTokens: tokens === 'required' || tokens === 'optional' ? tokens : undefined,
      httpEndpoint: endpoint === 'enabled' || endpoint === 'disabled' ? endpoint : undefined,
      hopLimit: m?.HttpPutResponseHopLimit,
    },
    instanceTags: tagsOf(v.LaunchTemplateData?.TagSpecifications?.filter((s) => s.ResourceType === 'instance').flatMap((s) => s.Tags ?? [])),
  };
};

const codesOf = (error: unknown): string[] => (error instanceof Error ? [error.name, String((error as { Code?: unknown }).Code ?? '')] : []);

/** A template write (tags, version, default) IAM refused means the role lacks FixLaunchTemplates=true (opt-in): say so. */
const deniedWrite = (operation: string, launchTemplateId: string, error: unknown): unknown =>
  codesOf(error).some((c) => c === 'UnauthorizedOperation' || c.startsWith('AccessDenied')) ? new TemplateFixNotAllowedError(operation, launchTemplateId, { cause: error }) : error;

/**
 * The launch data of a version, as a request to create another: the same data with IMDSv2
 * required, without what
 * only EC2 writes (the options' State, the Operator of a managed template) and without
 * launch-template tag specifications, which moto echoes into the data and AWS refuses there.
 */
export const copyLaunchData = (data: ResponseLaunchTemplateData, hopLimit: number | undefined): RequestLaunchTemplateData => {
  const { MetadataOptions, Operator: _operator, TagSpecifications, ...rest } = data;
  const { State: _state, ...options } = MetadataOptions ?? {};
  const tagSpecifications = TagSpecifications?.filter((s) => s.ResourceType !== 'launch-template');
  // The source as read now may set a higher hop limit than when the decision was made: keep it.
  const hop = hopLimit === undefined ? options.HttpPutResponseHopLimit : Math.max(hopLimit, options.HttpPutResponseHopLimit ?? 0);
  return {
    ...(rest as RequestLaunchTemplateData),
    ...(tagSpecifications && tagSpecifications.length > 0 ? { TagSpecifications: tagSpecifications as RequestLaunchTemplateData['TagSpecifications'] } : {}),
    // Only HttpTokens changes (and the hop limit, never lowered): the endpoint stays as the source
    // has it, so a version with IMDS off is never turned on; an unset hop limit stays unset.
    MetadataOptions: { ...options, HttpTokens: 'required', ...(hop !== undefined ? { HttpPutResponseHopLimit: hop } : {}) },
  };
};

/** A value with its object keys sorted, so that two equal launch data compare equal as JSON. */
const canonical = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(canonical)
    : v !== null && typeof v === 'object' && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canonical(x)]))
      : v;

/** The top-level fields of launch data, metadata options aside, in which a copy differs from its source. */
export const differingFields = (source: ResponseLaunchTemplateData, copy: ResponseLaunchTemplateData): string[] => {
  const strip = (d: ResponseLaunchTemplateData): Record<string, unknown> => {
    const { MetadataOptions: _m, Operator: _o, TagSpecifications, ...rest } = d;
    const specs = TagSpecifications?.filter((s) => s.ResourceType !== 'launch-template');
    return { ...rest, ...(specs && specs.length > 0 ? { TagSpecifications: specs } : {}) };
  };
  const [a, b] = [strip(source), strip(copy)];
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => JSON.stringify(canonical(a[k])) !== JSON.stringify(canonical(b[k])))
    .sort();
};

export class Ec2LaunchTemplatesAdapter implements LaunchTemplatesPort {
  constructor(private readonly ec2: EC2Client) {}

  async listTemplates(): Promise<TemplateListing[]> {
    const found: TemplateListing[] = [];
    const pages = paginateDescribeLaunchTemplates({ client: this.ec2, pageSize: 200 }, {});
    for await (const page of boundedPages('DescribeLaunchTemplates', pages, MAX_TEMPLATE_PAGES)) {
      for (const t of page.LaunchTemplates ?? []) {
        if (!t.LaunchTemplateId || t.DefaultVersionNumber === undefined || t.LatestVersionNumber === undefined) continue;
        found.push({
          launchTemplateId: t.LaunchTemplateId,
          launchTemplateName: t.LaunchTemplateName ?? t.LaunchTemplateId,
          tags: tagsOf(t.Tags),
          defaultVersion: t.DefaultVersionNumber,
          latestVersion: t.LatestVersionNumber,
          managedBy: t.Operator?.Managed ? (t.Operator.Principal ?? 'a service') : undefined,
        });
      }
    }
    return found;
  }

  async #versions(launchTemplateId: string, versions: string[]): Promise<Array<LaunchTemplateVersion & { VersionNumber: number }>> {
    const byNumber = new Map<number, LaunchTemplateVersion & { VersionNumber: number }>();
    const pages = paginateDescribeLaunchTemplateVersions({ client: this.ec2 }, { LaunchTemplateId: launchTemplateId, Versions: [...new Set(versions)] });
    for await (const page of boundedPages('DescribeLaunchTemplateVersions', pages, MAX_VERSION_PAGES)) {
      // $Default and $Latest may be one version: EC2 (and moto) then answer it twice.
      for (const v of page.LaunchTemplateVersions ?? []) if (v.VersionNumber !== undefined) byNumber.set(v.VersionNumber, { ...v, VersionNumber: v.VersionNumber });
    }
    return [...byNumber.values()];
  }

  async readVersions(launchTemplateId: string, versions: string[]): Promise<TemplateVersionFacts[]> {
    try {
      return (await this.#versions(launchTemplateId, versions)).map(toVersion);
    } catch (error) {
      // A version a group pins may have been deleted: EC2 then refuses the whole call. Ask for the aliases alone.
      const named = versions.filter((v) => v.startsWith('$'));
      if (named.length === versions.length || !codesOf(error).some((c) => c.includes('VersionNotFound'))) throw error;
      return (await this.#versions(launchTemplateId, named)).map(toVersion);
    }
  }

  async createFixedVersion(launchTemplateId: string, change: TemplateChange, description: string, clientToken: string): Promise<number> {
    // Read afresh: the copy is of the version as it is now, every field of it (moto ignores SourceVersion, and
    // a copy made here is one this code can see).
    const [source] = await this.#versions(launchTemplateId, [String(change.sourceVersion)]);
    if (!source?.LaunchTemplateData) throw new Error(`version ${change.sourceVersion} of ${launchTemplateId} has no launch data to copy`);
    const out = await this.ec2
      .send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateId: launchTemplateId,
          VersionDescription: description,
          ClientToken: clientToken,
          LaunchTemplateData: copyLaunchData(source.LaunchTemplateData, change.hopLimit),
        }),
      )
      .catch((error: unknown) => Promise.reject(deniedWrite('CreateLaunchTemplateVersion', launchTemplateId, error)));
    const created = out.LaunchTemplateVersion?.VersionNumber;
    if (created === undefined) throw new Error(`CreateLaunchTemplateVersion for ${launchTemplateId} answered no version number`);
    // Read the copy back: anything but its metadata options that is not the source's (a field the
    // API dropped or changed) would change what launches, so it must not become the default.
    const [copy] = await this.#versions(launchTemplateId, [String(created)]);
    const fields = differingFields(source.LaunchTemplateData, copy?.LaunchTemplateData ?? {});
    if (fields.length > 0) throw new TemplateCopyMismatchError(created, fields);
    return created;
  }

  async earlierFix(launchTemplateId: string, before: number): Promise<string | undefined> {
    if (before <= 1) return undefined;
    const pages = paginateDescribeLaunchTemplateVersions({ client: this.ec2 }, { LaunchTemplateId: launchTemplateId, MaxVersion: String(before - 1) });
    let found: string | undefined;
    for await (const page of boundedPages('DescribeLaunchTemplateVersions', pages, MAX_VERSION_PAGES)) {
      for (const v of page.LaunchTemplateVersions ?? []) {
        if (v.VersionNumber !== undefined && v.VersionNumber < before && FIXED_DESCRIPTION.test(v.VersionDescription ?? '')) {
          found = `version ${v.VersionNumber}${v.CreateTime ? ` of ${v.CreateTime.toISOString()}` : ''}`;
        }
      }
    }
    return found;
  }

  async setDefaultVersion(launchTemplateId: string, version: number): Promise<void> {
    await this.ec2
      .send(new ModifyLaunchTemplateCommand({ LaunchTemplateId: launchTemplateId, DefaultVersion: String(version) }))
      .catch((error: unknown) => Promise.reject(deniedWrite('ModifyLaunchTemplate', launchTemplateId, error)));
  }

  async tagTemplate(launchTemplateId: string, tags: Record<string, string>): Promise<void> {
    await this.ec2
      .send(new CreateTagsCommand({ Resources: [launchTemplateId], Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }))
      .catch((error: unknown) => Promise.reject(deniedWrite('CreateTags', launchTemplateId, error)));
  }

  async existingTemplates(launchTemplateIds: string[]): Promise<Set<string>> {
    const alive = new Set<string>();
    // One id a call: EC2 refuses a whole call when one of its ids does not exist.
    for (const id of launchTemplateIds) {
      try {
        const out = await this.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [id] }));
        if ((out.LaunchTemplates ?? []).some((t) => t.LaunchTemplateId === id)) alive.add(id);
      } catch (error) {
        if (!codesOf(error).some((c) => c.includes('NotFound'))) throw error;
      }
    }
    return alive;
  }
}

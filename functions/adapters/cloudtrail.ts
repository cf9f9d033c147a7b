import {
  DescribeTrailsCommand,
  GetEventSelectorsCommand,
  GetTrailStatusCommand,
  type AdvancedFieldSelector,
  type CloudTrailClient,
  type EventSelector,
} from '@aws-sdk/client-cloudtrail';
import type { BasicEventSelector, EventSelectors, FieldSelector, Trail, TrailsPort } from '../doctor/ports.ts';

/** What the member role must allow for this adapter (infra mirrors this list): doctor's reads only. */
export const CLOUDTRAIL_IAM_ACTIONS = ['cloudtrail:DescribeTrails', 'cloudtrail:GetTrailStatus', 'cloudtrail:GetEventSelectors'] as const;

const toBasic = (s: EventSelector): BasicEventSelector => ({
  readWriteType: s.ReadWriteType,
  includeManagementEvents: s.IncludeManagementEvents,
  excludeManagementEventSources: s.ExcludeManagementEventSources ?? [],
});

const toField = (f: AdvancedFieldSelector): FieldSelector => ({
  field: f.Field ?? '',
  equals: f.Equals,
  notEquals: f.NotEquals,
  startsWith: f.StartsWith,
  notStartsWith: f.NotStartsWith,
  endsWith: f.EndsWith,
  notEndsWith: f.NotEndsWith,
});

/** The trails of one account-region; `clientFor` gives a client in any region of the same account. */
export class CloudTrailAdapter implements TrailsPort {
  constructor(
    private readonly region: string,
    private readonly clientFor: (region: string) => CloudTrailClient,
  ) {}

  async listTrails(): Promise<Trail[]> {
    // DescribeTrails is not paginated: it returns every trail that applies to the region.
    const out = await this.clientFor(this.region).send(new DescribeTrailsCommand({ includeShadowTrails: true }));
    return (out.trailList ?? []).flatMap((t) =>
      t.TrailARN && t.Name
        ? [
            {
              name: t.Name,
              arn: t.TrailARN,
              homeRegion: t.HomeRegion ?? this.region,
              multiRegion: t.IsMultiRegionTrail ?? false,
              organization: t.IsOrganizationTrail ?? false,
            },
          ]
        : [],
    );
  }

  // A shadow trail is asked about by ARN in its home region, where it is not a shadow.
  async isLogging(trail: Trail): Promise<boolean> {
    const out = await this.clientFor(trail.homeRegion).send(new GetTrailStatusCommand({ Name: trail.arn }));
    return out.IsLogging === true;
  }

  async eventSelectors(trail: Trail): Promise<EventSelectors> {
    const out = await this.clientFor(trail.homeRegion).send(new GetEventSelectorsCommand({ TrailName: trail.arn }));
    return {
      basic: (out.EventSelectors ?? []).map(toBasic),
      advanced: (out.AdvancedEventSelectors ?? []).map((s) => (s.FieldSelectors ?? []).map(toField)),
    };
  }
}

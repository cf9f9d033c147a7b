// What the doctor needs from the world: read-only questions about the organization's set-up.
// Adapters answer them; a missing thing is an answer (false, undefined), an AWS failure throws.
import type { Shard } from '../domain/model.ts';
import type { Ec2Port } from '../pipeline/ports.ts';
import type { OrganizationPort } from '../sweep/ports.ts';

/** A CloudTrail trail as DescribeTrails shows it in one region (shadow and organization trails included). */
export interface Trail {
  name: string;
  arn: string;
  homeRegion: string;
  multiRegion: boolean;
  organization: boolean;
}

/** A classic event selector, reduced to what decides whether management events are logged. */
export interface BasicEventSelector {
  readWriteType: string | undefined;
  includeManagementEvents: boolean | undefined;
  excludeManagementEventSources: string[];
}

/** One condition of an advanced event selector. */
export interface FieldSelector {
  field: string;
  equals?: string[] | undefined;
  notEquals?: string[] | undefined;
  startsWith?: string[] | undefined;
  notStartsWith?: string[] | undefined;
  endsWith?: string[] | undefined;
  notEndsWith?: string[] | undefined;
}

export interface EventSelectors {
  basic: BasicEventSelector[];
  /** Each advanced selector is the conjunction of its field selectors. */
  advanced: FieldSelector[][];
}

export interface TrailsPort {
  /** The trails that DescribeTrails lists in this account-region, shadow and organization trails included. */
  listTrails(): Promise<Trail[]>;
  isLogging(trail: Trail): Promise<boolean>;
  eventSelectors(trail: Trail): Promise<EventSelectors>;
}

export interface SecurityHubStatePort {
  /** False when the account is not subscribed to Security Hub in this region. */
  hubEnabled(): Promise<boolean>;
}

export interface EventBus {
  arn: string;
  /** The resource policy as JSON text; undefined when the bus has none. */
  policy: string | undefined;
}

export interface EventRulesPort {
  /** The rule's state on the default bus (ENABLED, DISABLED, …); undefined when no such rule exists. */
  ruleState(name: string): Promise<string | undefined>;
}

export interface EventBusesPort {
  /** Undefined when no such bus exists. */
  describeBus(nameOrArn: string): Promise<EventBus | undefined>;
}

/** One member account-region, read through the member role (or the caller's own credentials). */
export interface AccountRegionPorts {
  securityHub: SecurityHubStatePort;
  trails: TrailsPort;
  rules: EventRulesPort;
}

export interface DoctorWorld {
  organization: OrganizationPort;
  /** The organization's id (o-…), which the central bus policy must name. */
  organizationId(): Promise<string>;
  /** The account's enabled regions, read through the member role: the proof that the role can be assumed. */
  accountEc2(accountId: string): Pick<Ec2Port, 'enabledRegions'>;
  accountRegion(shard: Shard): AccountRegionPorts;
  /** The caller's own event buses in this region. */
  eventBuses(region: string): EventBusesPort;
  /** Where a bus named without an ARN is looked up. */
  homeRegion: string;
}

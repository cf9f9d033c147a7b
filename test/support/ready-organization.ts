// An organization with everything the event path and the findings need, seeded through the SDK
// from the project's own templates: the member forwarding rule as infra/member-events.yml declares
// it, and the central bus with the policy infra/central/events.yml gives it.
import { CloudTrailClient, CreateTrailCommand, PutEventSelectorsCommand, StartLoggingCommand, type EventSelector } from '@aws-sdk/client-cloudtrail';
import { CreateEventBusCommand, EventBridgeClient, PutPermissionCommand, PutRuleCommand, type RuleState } from '@aws-sdk/client-eventbridge';
import { DescribeOrganizationCommand } from '@aws-sdk/client-organizations';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { EnableSecurityHubCommand, SecurityHubClient } from '@aws-sdk/client-securityhub';
import { type LocalAws, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { readYamlTemplate } from './cfn.ts';
import { REGIONS } from './scenario.ts';

export const HOME_REGION = 'us-east-1';
/** A member's trail in one region: it covers that region only. */
export const regionalTrail = (region: string) => `imds-trail-${region}`;

const templateResource = (path: string, id: string) => {
  const resource = readYamlTemplate(path).Resources[id];
  if (!resource) throw new Error(`${path} has no ${id}`);
  return resource.Properties;
};

/** The organization trail as infra/org-trail.yml declares it, with the template's default name. */
const orgTrailFromTemplate = () => {
  const template = readYamlTemplate('infra/org-trail.yml');
  const trail = template.Resources.OrganizationTrail?.Properties;
  const name = (template.Parameters?.TrailName as { Default?: string } | undefined)?.Default;
  if (!trail || !name) throw new Error('infra/org-trail.yml has no OrganizationTrail or no default TrailName');
  return {
    name,
    isMultiRegion: trail.IsMultiRegionTrail === true,
    isOrganization: trail.IsOrganizationTrail === true,
    isLogging: trail.IsLogging === true,
    eventSelectors: trail.EventSelectors as EventSelector[],
  };
};

/** The management account's trail, deployed from infra/org-trail.yml: multi-region, so eu-west-1 sees it only as a shadow. */
export const ORG_TRAIL = orgTrailFromTemplate().name;

/** The central bus's name and policy statement as the central stack deploys them for this stage and organization. */
export const centralBusFromTemplate = (stage: string, organizationId: string) => {
  const name = String(templateResource('infra/central/events.yml', 'CentralEventBus').Name)
    .replace('${self:service}', 'imds-remediator')
    .replace('${sls:stage}', stage);
  const arn = `arn:aws:events:${HOME_REGION}:${MANAGEMENT_ACCOUNT}:event-bus/${name}`;
  const statement = JSON.parse(
    JSON.stringify(templateResource('infra/central/events.yml', 'CentralEventBusOrgPolicy').Statement).replace('${param:orgId}', organizationId),
  ) as Record<string, unknown>;
  return { name, arn, policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ ...statement, Resource: arn }] }) };
};

export const clientsIn = async (aws: LocalAws, accountId: string, region: string) => {
  const credentials = await aws.credentials(accountId);
  return {
    cloudTrail: new CloudTrailClient({ region, credentials }),
    events: new EventBridgeClient({ region, credentials }),
    securityHub: new SecurityHubClient({ region, credentials }),
  };
};

export const seedReadyOrganization = async (aws: LocalAws, memberNames = ['alpha', 'beta']) => {
  const members = await aws.createOrganization(memberNames);
  const accounts = [MANAGEMENT_ACCOUNT, ...members];
  const organizationId = (await aws.org.send(new DescribeOrganizationCommand({}))).Organization?.Id ?? '';
  const rule = templateResource('infra/member-events.yml', 'ForwardInstanceEvents');

  for (const accountId of accounts) {
    const bucket = `trails-${accountId}`;
    await new S3Client({ region: HOME_REGION, credentials: await aws.credentials(accountId) }).send(new CreateBucketCommand({ Bucket: bucket }));
    // moto lists an organization trail only in its own account, so each member gets trails of its own.
    if (accountId === MANAGEMENT_ACCOUNT) {
      const { cloudTrail } = await clientsIn(aws, accountId, HOME_REGION);
      const trail = orgTrailFromTemplate();
      await cloudTrail.send(
        new CreateTrailCommand({ Name: trail.name, S3BucketName: bucket, IsMultiRegionTrail: trail.isMultiRegion, IsOrganizationTrail: trail.isOrganization }),
      );
      await cloudTrail.send(new PutEventSelectorsCommand({ TrailName: trail.name, EventSelectors: trail.eventSelectors }));
      if (trail.isLogging) await cloudTrail.send(new StartLoggingCommand({ Name: trail.name }));
    }
    for (const region of REGIONS) {
      const { cloudTrail, events, securityHub } = await clientsIn(aws, accountId, region);
      if (accountId !== MANAGEMENT_ACCOUNT) {
        await cloudTrail.send(new CreateTrailCommand({ Name: regionalTrail(region), S3BucketName: bucket }));
        await cloudTrail.send(new StartLoggingCommand({ Name: regionalTrail(region) }));
      }
      await securityHub.send(new EnableSecurityHubCommand({}));
      await events.send(new PutRuleCommand({ Name: String(rule.Name), EventPattern: JSON.stringify(rule.EventPattern), State: rule.State as RuleState }));
    }
  }

  const bus = centralBusFromTemplate('prod', organizationId);
  const central = new EventBridgeClient({ region: HOME_REGION });
  await central.send(new CreateEventBusCommand({ Name: bus.name }));
  await central.send(new PutPermissionCommand({ EventBusName: bus.name, Policy: bus.policy }));
  return { accounts, members, organizationId, bus };
};

// What "in place" means for each prerequisite, as pure functions of what AWS answered, and the
// fix a person runs when it is not. The event path needs every one of them; nothing here calls AWS.
import type { EventSelectors, FieldSelector } from './ports.ts';
import { shellQuote } from '../domain/shell.ts';

/** The forwarding rule's fixed name in infra/member-events.yml (a test keeps them equal). */
export const MEMBER_EVENT_RULE_NAME = 'imds-remediator-forward-instance-events';

/** infra/central/events.yml names the bus `${service}-${stage}`; README deploys the stage `prod`. */
export const DEFAULT_EVENT_BUS = 'imds-remediator-prod';

/** The CloudTrail events the member rule forwards: a trail must log both, or the event path is silent. */
export const FORWARDED_EVENTS = [
  { eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances' },
  { eventSource: 'ec2.amazonaws.com', eventName: 'ModifyInstanceMetadataOptions' },
] as const;

const matchesField = (selector: FieldSelector, value: string | undefined): boolean => {
  // A field the event does not have satisfies only the negative operators.
  const has = (list: string[] | undefined, test: (v: string, x: string) => boolean) =>
    value !== undefined && (list ?? []).some((x) => test(value, x));
  if (selector.equals && !has(selector.equals, (v, x) => v === x)) return false;
  if (selector.startsWith && !has(selector.startsWith, (v, x) => v.startsWith(x))) return false;
  if (selector.endsWith && !has(selector.endsWith, (v, x) => v.endsWith(x))) return false;
  if (selector.notEquals && has(selector.notEquals, (v, x) => v === x)) return false;
  if (selector.notStartsWith && has(selector.notStartsWith, (v, x) => v.startsWith(x))) return false;
  if (selector.notEndsWith && has(selector.notEndsWith, (v, x) => v.endsWith(x))) return false;
  return true;
};

/** True when the trail's selectors log both forwarded events (management events that write). */
export const logsManagementWrites = (selectors: EventSelectors): boolean => {
  // A trail without custom selectors logs every management event, reads and writes.
  if (selectors.basic.length === 0 && selectors.advanced.length === 0) return true;
  const basic = selectors.basic.some(
    (s) =>
      s.includeManagementEvents !== false &&
      (s.readWriteType === undefined || s.readWriteType === 'All' || s.readWriteType === 'WriteOnly') &&
      !s.excludeManagementEventSources.includes('ec2.amazonaws.com'),
  );
  if (basic) return true;
  return FORWARDED_EVENTS.every((event) => {
    const fields: Record<string, string> = { eventCategory: 'Management', readOnly: 'false', ...event };
    return selectors.advanced.some((conditions) => conditions.every((c) => matchesField(c, fields[c.field])));
  });
};

/** EventBridge reports ENABLED, or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS, for a rule that runs. */
export const isRuleEnabled = (state: string): boolean => state.startsWith('ENABLED');

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined ? [] : [value]);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const allowsPutEvents = (action: unknown) => asList(action).some((a) => a === 'events:PutEvents' || a === 'events:*' || a === '*');
const anyPrincipal = (principal: unknown) =>
  principal === '*' || (isObject(principal) && asList(principal.AWS).includes('*'));
const namesOrganization = (condition: unknown, organizationId: string) => {
  if (!isObject(condition)) return false;
  const equals = Object.entries(condition).find(([operator]) => operator === 'StringEquals')?.[1];
  if (!isObject(equals)) return false;
  // Condition keys are case-insensitive in IAM policy language.
  return Object.entries(equals).some(([key, value]) => key.toLowerCase() === 'aws:principalorgid' && asList(value).includes(organizationId));
};

/** True when the bus policy lets the organization's accounts put events, as infra/central/events.yml writes it. */
export const busAdmitsOrganization = (policy: string | undefined, organizationId: string): boolean => {
  if (policy === undefined) return false;
  let document: unknown;
  try {
    document = JSON.parse(policy);
  } catch {
    return false;
  }
  if (!isObject(document)) return false;
  return asList(document.Statement).some(
    (s) => isObject(s) && s.Effect === 'Allow' && allowsPutEvents(s.Action) && anyPrincipal(s.Principal) && namesOrganization(s.Condition, organizationId),
  );
};

/** The stage of a bus named as the central stack names it, for the deploy command in a fix. */
const stageOf = (bus: string) => /(?:^|\/)imds-remediator-([\w-]+)$/.exec(bus)?.[1] ?? '<stage>';

/** The command or template that puts each prerequisite in place. */
export const FIX = {
  listOrganization:
    'run doctor from the management account, or from a delegated administrator whose Organizations delegation policy ' +
    'allows organizations:ListAccounts, ListAccountsForParent, ListOrganizationalUnitsForParent and DescribeOrganization (README: Deploy step 1)',
  inactiveScopeAccount: 'remove the account from scope.accounts in the policy, or bring it back into the organization',
  memberRole: (accountId: string) =>
    `deploy infra/member-role.yml to account ${accountId} (the imds-remediator-member-role StackSet, README: Deploy step 10; ` +
    'the management account takes it as a plain stack), and run doctor with credentials that the role trusts',
  unreadable: (accountId: string, ownAccount: boolean) =>
    ownAccount
      ? `give the caller in account ${accountId} the member role's read actions (infra/member-role.yml, Sid Preflight)`
      : `update the member role in account ${accountId} to the current infra/member-role.yml, whose Preflight statement holds ` +
        "doctor's read actions: aws cloudformation update-stack-set --stack-set-name imds-remediator-member-role --template-body file://infra/member-role.yml …",
  securityHub: (accountId: string, region: string) =>
    `aws securityhub enable-security-hub --region ${region}, in account ${accountId} ` +
    '(or enable it for the whole organization from the Security Hub delegated administrator)',
  noTrail: (region: string) =>
    `create an organization trail that covers ${region}, from the management account: deploy infra/org-trail.yml ` +
    '(aws cloudformation deploy --template-file infra/org-trail.yml --stack-name imds-remediator-org-trail --parameter-overrides OrganizationId=<o-…>), ' +
    'or aws cloudtrail create-trail --name imds-remediator-org-trail --s3-bucket-name <a bucket CloudTrail may write> --is-multi-region-trail ' +
    '--is-organization-trail && aws cloudtrail start-logging --name imds-remediator-org-trail',
  trailNotLogging: (trailArn: string, homeRegion: string) =>
    `aws cloudtrail start-logging --name ${shellQuote(trailArn)} --region ${homeRegion}, in the account that owns the trail`,
  trailWithoutWrites: (trailArn: string, homeRegion: string) =>
    `log management write events on ${trailArn}: aws cloudtrail put-event-selectors --trail-name ${shellQuote(trailArn)} --region ${homeRegion} ` +
    `--event-selectors '[{"ReadWriteType":"All","IncludeManagementEvents":true}]' (keep the data-event selectors it already has)`,
  noRule: (accountId: string, region: string) =>
    `deploy infra/member-events.yml to account ${accountId} in ${region}: add them to the imds-remediator-member-events StackSet ` +
    `(aws cloudformation create-stack-instances --stack-set-name imds-remediator-member-events --deployment-targets ` +
    `OrganizationalUnitIds=<its OU>,Accounts=${accountId},AccountFilterType=INTERSECTION --regions ${region}; README: Deploy step 11)`,
  ruleDisabled: (accountId: string, region: string) =>
    `aws events enable-rule --name ${MEMBER_EVENT_RULE_NAME} --region ${region}, in account ${accountId}`,
  noBus: (bus: string, organizationId: string) =>
    `deploy the central stack (npx osls deploy --stage ${stageOf(bus)} --param="orgId=${organizationId}"), or pass --event-bus with the bus's name or ARN`,
  busPolicy: (bus: string, organizationId: string) =>
    `redeploy the central stack with its bus policy for the organization: npx osls deploy --stage ${stageOf(bus)} ` +
    `--param="orgId=${organizationId}" (infra/central/events.yml, CentralEventBusOrgPolicy)`,
  unreadableBus: 'give the caller events:DescribeEventBus and organizations:DescribeOrganization, and run doctor in the central account',
};

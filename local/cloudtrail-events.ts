// Real CloudTrail event fixtures (test/fixtures/events), re-addressed to seeded instances: for tests and the demo.
import { readFileSync } from 'node:fs';

type Json = Record<string, unknown>;

export const fixture = (name: string): Json => JSON.parse(readFileSync(`test/fixtures/events/${name}.json`, 'utf8')) as Json;

const detailOf = (event: Json) => event.detail as Json;

/** The fixture's caller, made a caller of this account: EC2 records only callers of the account it acts in. */
const callerIn = (event: Json, accountId: string): Json =>
  JSON.parse(JSON.stringify(detailOf(event).userIdentity).replaceAll(String(event.account), accountId)) as Json;

export const runInstancesEvent = (accountId: string, region: string, instanceIds: string[]): Json => {
  const event = fixture('run-instances');
  const detail = detailOf(event);
  const items = ((detail.responseElements as Json).instancesSet as { items: Json[] }).items;
  const template = items[0] ?? {};
  (detail.responseElements as Json).instancesSet = { items: instanceIds.map((instanceId) => ({ ...template, instanceId })) };
  return { ...event, account: accountId, region, detail: { ...detail, awsRegion: region, recipientAccountId: accountId, userIdentity: callerIn(event, accountId) } };
};

export const driftEvent = (accountId: string, region: string, instanceId: string, actor?: string): Json => {
  const event = fixture('modify-instance-metadata-options');
  const detail = detailOf(event);
  const request = { HttpTokens: 'optional', InstanceId: instanceId };
  const caller = callerIn(event, accountId);
  const userIdentity = actor ? { ...caller, arn: actor } : caller;
  return {
    ...event,
    account: accountId,
    region,
    detail: { ...detail, awsRegion: region, recipientAccountId: accountId, userIdentity, requestParameters: { ModifyInstanceMetadataOptionsRequest: request } },
  };
};

import { z } from 'zod';
import { EventError, formatIssues } from '../domain/errors.ts';
import { accountIdSchema as accountId, instanceIdSchema as instanceId, regionSchema as region } from '../domain/ids.ts';

export { EventError };

/** RunInstances launches at most a few thousand at once; anything bigger is not a real event. */
const MAX_INSTANCES = 10_000;

// Real events carry many more fields; only what we use is checked, and only ids are trusted.
const envelope = z.object({
  'detail-type': z.string(),
  source: z.string(),
  account: accountId,
  region,
  id: z.string().optional(),
  detail: z.object({
    eventName: z.string().min(1),
    awsRegion: region,
    recipientAccountId: accountId.optional(),
    errorCode: z.string().nullish(),
    errorMessage: z.string().nullish(),
    eventID: z.string().optional(),
    userIdentity: z.object({ arn: z.string().optional(), type: z.string().optional(), invokedBy: z.string().optional() }).optional(),
    requestParameters: z.unknown().optional(),
    responseElements: z.unknown().optional(),
  }),
});

const runInstancesResponse = z.object({
  instancesSet: z.object({
    items: z.array(z.object({ instanceId })).min(1, 'lists no instance').max(MAX_INSTANCES, `lists more than ${MAX_INSTANCES} instances`),
  }),
});

// CloudTrail records this call's parameters nested and in PascalCase; accept the flat form too.
const modifyOptions = z.object({ InstanceId: instanceId, HttpTokens: z.string().optional() });
const modifyRequest = z.union([
  z.object({ ModifyInstanceMetadataOptionsRequest: modifyOptions }).transform((r) => r.ModifyInstanceMetadataOptionsRequest),
  z.object({ instanceId, httpTokens: z.string().optional() }).transform((r) => ({ InstanceId: r.instanceId, HttpTokens: r.httpTokens })),
]);

/**
 * Who made the call goes into reasons, tags, findings and Slack, so only a well-formed IAM or
 * STS ARN (or AWS service principal) is repeated; anything else in a forged event is not.
 */
const ACTOR = /^arn:aws[\w-]*:(iam|sts)::\d{12}:[\w+=,.@/-]{1,200}$/;
const SERVICE = /^[a-z0-9.-]{1,64}\.amazonaws\.com$/;
const actorOf = (identity: { arn?: string | undefined; type?: string | undefined; invokedBy?: string | undefined } | undefined): string => {
  if (identity?.arn && ACTOR.test(identity.arn)) return identity.arn;
  if (identity?.invokedBy && SERVICE.test(identity.invokedBy)) return identity.invokedBy;
  return 'an unrecognized caller';
};

export interface InstanceEvent {
  kind: 'launch' | 'drift';
  accountId: string;
  region: string;
  instanceIds: string[];
  /** Who made the call (userIdentity.arn), for findings and messages. */
  actor: string;
  eventId: string | undefined;
}

export interface IgnoredEvent {
  kind: 'ignored';
  reason: string;
  accountId: string | undefined;
  region: string | undefined;
}

const parseOrThrow = <T>(schema: z.ZodType<T>, value: unknown, prefix: string): T => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new EventError(formatIssues(result.error.issues, prefix, '(event)'));
};

/**
 * Reads an EventBridge "AWS API Call via CloudTrail" event for EC2. Returns what to act on,
 * or why the event is ignored; throws EventError when the event cannot be read.
 */
export const parseInstanceEvent = (raw: unknown): InstanceEvent | IgnoredEvent => {
  const event = parseOrThrow(envelope, raw, '');
  const { detail } = event;
  const accountId = detail.recipientAccountId ?? event.account;
  const region = detail.awsRegion;
  const ignored = (reason: string): IgnoredEvent => ({ kind: 'ignored', reason, accountId, region });

  if (event.source !== 'aws.ec2' || event['detail-type'] !== 'AWS API Call via CloudTrail') {
    return ignored(`not an EC2 CloudTrail event (source ${event.source}, detail-type ${event['detail-type']})`);
  }
  if (detail.errorCode) return ignored(`${detail.eventName} failed (${detail.errorCode}): nothing was launched or changed`);
  const actor = actorOf(detail.userIdentity);
  const base = { accountId, region, actor, eventId: detail.eventID ?? event.id };

  switch (detail.eventName) {
    case 'RunInstances': {
      const response = parseOrThrow(runInstancesResponse, detail.responseElements, 'detail.responseElements');
      return { kind: 'launch', ...base, instanceIds: [...new Set(response.instancesSet.items.map((i) => i.instanceId))] };
    }
    case 'ModifyInstanceMetadataOptions': {
      const request = parseOrThrow(modifyRequest, detail.requestParameters, 'detail.requestParameters');
      if (request.HttpTokens !== 'optional') {
        return ignored(`ModifyInstanceMetadataOptions did not re-open IMDSv1 (HttpTokens ${request.HttpTokens ?? 'unchanged'})`);
      }
      return { kind: 'drift', ...base, instanceIds: [request.InstanceId] };
    }
    default:
      return ignored(`event ${detail.eventName} is not handled`);
  }
};

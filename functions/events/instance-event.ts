import { z } from 'zod';
import { EventError, formatIssues, UntrustedEventError } from '../domain/errors.ts';
import { accountIdSchema as accountId, instanceIdSchema as instanceId, regionSchema as region } from '../domain/ids.ts';

export { EventError, UntrustedEventError };

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

/** The account of an IAM or STS ARN: a user, a role, a role session, a federated user, or the root. */
const IAM_ARN_ACCOUNT = /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):/;

/**
 * The envelope's account and region are the ones EventBridge delivered the event from; the
 * detail is CloudTrail's record of the call. For a real EC2 call they always agree: EC2 acts
 * in the account whose credentials signed the call, so even a person from another account
 * appears as a role session of this one. A caller without an IAM or STS ARN (an AWS service
 * acting for the account, which CloudTrail names only by `invokedBy`) has no account to
 * compare, and is accepted. Anything that disagrees is forged or misrouted.
 */
const disagreements = (event: z.infer<typeof envelope>): string[] => {
  const { account, region, detail } = event;
  const problems: string[] = [];
  if (detail.recipientAccountId !== undefined && detail.recipientAccountId !== account) {
    problems.push(`detail.recipientAccountId: ${detail.recipientAccountId} is not the account the event came from (account ${account})`);
  }
  if (detail.awsRegion !== region) {
    problems.push(`detail.awsRegion: ${detail.awsRegion} is not the region the event came from (region ${region})`);
  }
  const callerAccount = IAM_ARN_ACCOUNT.exec(detail.userIdentity?.arn ?? '')?.[1];
  if (callerAccount !== undefined && callerAccount !== account) {
    problems.push(`detail.userIdentity.arn: a caller of account ${callerAccount} cannot launch or change an instance of account ${account}`);
  }
  return problems;
};

const parseOrThrow = <T>(schema: z.ZodType<T>, value: unknown, prefix: string): T => {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new EventError(formatIssues(result.error.issues, prefix, '(event)'));
};

/**
 * Reads an EventBridge "AWS API Call via CloudTrail" event for EC2. Returns what to act on,
 * or why the event is ignored; throws EventError when the event cannot be read, and
 * UntrustedEventError when its parts name different accounts or regions.
 */
export const parseInstanceEvent = (raw: unknown): InstanceEvent | IgnoredEvent => {
  const event = parseOrThrow(envelope, raw, '');
  const { detail } = event;
  const accountId = event.account;
  const region = event.region;
  const ignored = (reason: string): IgnoredEvent => ({ kind: 'ignored', reason, accountId, region });

  if (event.source !== 'aws.ec2' || event['detail-type'] !== 'AWS API Call via CloudTrail') {
    return ignored(`not an EC2 CloudTrail event (source ${event.source}, detail-type ${event['detail-type']})`);
  }
  const problems = disagreements(event);
  if (problems.length > 0) throw new UntrustedEventError(problems);
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

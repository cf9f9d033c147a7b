import {
  DescribeEventBusCommand,
  DescribeRuleCommand,
  ResourceNotFoundException,
  type EventBridgeClient,
} from '@aws-sdk/client-eventbridge';
import type { EventBus, EventBusesPort, EventRulesPort } from '../doctor/ports.ts';

/** What the member role must allow for this adapter (infra mirrors this list): doctor's read of the forwarding rule. */
export const EVENTBRIDGE_IAM_ACTIONS = ['events:DescribeRule'] as const;

/** What the caller needs in the central account to read the central bus; not a member-role action. */
export const EVENTBRIDGE_CENTRAL_IAM_ACTIONS = ['events:DescribeEventBus'] as const;

const absentWhenNotFound = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
};

export class EventBridgeAdapter implements EventRulesPort, EventBusesPort {
  constructor(private readonly events: EventBridgeClient) {}

  async ruleState(name: string): Promise<string | undefined> {
    const out = await absentWhenNotFound(() => this.events.send(new DescribeRuleCommand({ Name: name, EventBusName: 'default' })));
    return out === undefined ? undefined : (out.State ?? 'UNKNOWN');
  }

  async describeBus(nameOrArn: string): Promise<EventBus | undefined> {
    const out = await absentWhenNotFound(() => this.events.send(new DescribeEventBusCommand({ Name: nameOrArn })));
    return out === undefined ? undefined : { arn: out.Arn ?? nameOrArn, policy: out.Policy };
  }
}

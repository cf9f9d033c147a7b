import { DescribeHubCommand, InvalidAccessException, type SecurityHubClient } from '@aws-sdk/client-securityhub';
import type { SecurityHubStatePort } from '../doctor/ports.ts';

/** What the member role must allow for this adapter (infra mirrors this list): doctor's check that the hub is on. */
export const SECURITYHUB_STATE_IAM_ACTIONS = ['securityhub:DescribeHub'] as const;

export class SecurityHubStateAdapter implements SecurityHubStatePort {
  constructor(private readonly securityHub: SecurityHubClient) {}

  async hubEnabled(): Promise<boolean> {
    try {
      await this.securityHub.send(new DescribeHubCommand({}));
      return true;
    } catch (error) {
      // Security Hub answers InvalidAccessException for an account-region that is not subscribed;
      // a denied IAM action is AccessDeniedException, which is an unreadable check, not a missing hub.
      if (error instanceof InvalidAccessException) return false;
      throw error;
    }
  }
}

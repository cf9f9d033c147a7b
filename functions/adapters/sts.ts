import { AssumeRoleCommand, GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { ScopeFailure } from '../domain/errors.ts';
import type { Caller } from '../sweep/ports.ts';

/** The central role's rights (the member role's trust policy must name that role). */
export const STS_IAM_ACTIONS = ['sts:AssumeRole', 'sts:GetCallerIdentity'] as const;

const REFRESH_BEFORE_MS = 5 * 60_000;

export const readCaller = async (sts: STSClient): Promise<Caller> => {
  const identity = await sts.send(new GetCallerIdentityCommand({}));
  const arn = identity.Arn ?? '';
  if (!identity.Account) throw new ScopeFailure('GetCallerIdentity returned no account');
  return { accountId: identity.Account, partition: arn.split(':')[1] || 'aws' };
};

/**
 * Credentials for a member account through its member role, one AssumeRole per account
 * per run (refreshed only when close to expiry). Secrets stay inside the provider.
 */
export const memberRoleCredentials = (sts: STSClient, roleArn: (accountId: string) => Promise<string>) => {
  const cache = new Map<string, Promise<AwsCredentialIdentity>>();

  const assume = async (accountId: string): Promise<AwsCredentialIdentity> => {
    const arn = await roleArn(accountId);
    try {
      const out = await sts.send(
        new AssumeRoleCommand({ RoleArn: arn, RoleSessionName: 'imds-remediator', DurationSeconds: 3600 }),
      );
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey) throw new ScopeFailure(`AssumeRole ${arn} returned no credentials`);
      return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
    } catch (error) {
      cache.delete(accountId);
      const name = error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? error.message : String(error);
      throw new ScopeFailure(`cannot assume ${arn}: ${name}: ${message}`, { cause: error });
    }
  };

  return (accountId: string): AwsCredentialIdentityProvider =>
    async () => {
      const cached = cache.get(accountId);
      if (cached) {
        const creds = await cached;
        if (!creds.expiration || creds.expiration.getTime() - Date.now() > REFRESH_BEFORE_MS) return creds;
      }
      const fresh = assume(accountId);
      cache.set(accountId, fresh);
      return fresh;
    };
};

import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { Secret } from '../domain/secret.ts';

/** What the central role must allow to read the Slack webhook from Secrets Manager. */
export const SECRETS_IAM_ACTIONS = ['secretsmanager:GetSecretValue'] as const;

export class SecretError extends Error {
  override name = 'SecretError';
}

const webhookUrl = z.url({ protocol: /^https?$/ });
const jsonSecret = z.object({ url: webhookUrl }).or(z.object({ webhookUrl }).transform((s) => ({ url: s.webhookUrl })));

/**
 * The webhook URL from a secret: the URL itself, or JSON `{"url": "…"}` (or `webhookUrl`).
 * Read once, on first use. Errors never include the secret's value.
 */
export const webhookFromSecret = (client: SecretsManagerClient, secretId: string): (() => Promise<Secret>) => {
  let cached: Promise<Secret> | undefined;
  const read = async (): Promise<Secret> => {
    let value: string | undefined;
    try {
      value = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
    } catch (error) {
      cached = undefined;
      const name = error instanceof Error ? error.name : 'Error';
      throw new SecretError(`cannot read the Slack webhook secret ${secretId}: ${name}`, { cause: error });
    }
    const text = value?.trim() ?? '';
    if (webhookUrl.safeParse(text).success) return new Secret(text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const json = jsonSecret.safeParse(parsed);
    if (json.success) return new Secret(json.data.url);
    throw new SecretError(`the secret ${secretId} holds neither a webhook URL nor JSON {"url": "https://…"}`);
  };
  return () => {
    cached ??= read();
    return cached;
  };
};

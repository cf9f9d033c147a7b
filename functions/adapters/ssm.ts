import { GetParameterCommand, ParameterNotFound, type SSMClient } from '@aws-sdk/client-ssm';
import { InputError } from '../domain/errors.ts';

/** The central functions' right to read the policy parameter (scoped to that one ARN in serverless.yml). */
export const SSM_IAM_ACTIONS = ['ssm:GetParameter'] as const;

/** The text of a String parameter (the policy document). */
export const readParameterText = async (ssm: SSMClient, name: string): Promise<string> => {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    const value = out.Parameter?.Value;
    if (value === undefined) throw new InputError(`SSM parameter ${name} has no value`);
    return value;
  } catch (error) {
    if (error instanceof ParameterNotFound) throw new InputError(`SSM parameter ${name} does not exist`, { cause: error });
    throw error;
  }
};

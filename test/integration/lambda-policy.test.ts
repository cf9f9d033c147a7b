import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import { composeParameterReader } from '../../functions/app/compose.ts';
import { readEnvironment, readLambdaEnvironment } from '../../functions/app/config.ts';
import { InputError, PolicyError } from '../../functions/domain/errors.ts';
import { loadDeployedPolicy } from '../../functions/app/lambda.ts';
import { useMoto } from '../support/moto.ts';

useMoto();

const lambdaEnv = (vars: Record<string, string>) => readLambdaEnvironment({ ...process.env, LAMBDA_TASK_ROOT: process.cwd(), ...vars });
const ssm = () => composeParameterReader(readEnvironment());

describe('the functions’ policy', () => {
  it('is the bundled policy.yaml when no SSM parameter is named (an empty name counts as none): the reference, which only reports', async () => {
    const env = lambdaEnv({ POLICY_SSM_PARAMETER: '', POLICY_FILE: 'policy.yaml' });

    const policy = await loadDeployedPolicy(env, ssm());

    expect(env.policySource).toEqual({ file: `${process.cwd()}/policy.yaml` });
    expect(policy).toMatchObject({ mode: 'report', memberRoleName: 'ImdsRemediatorMemberRole' });
  });

  it('refuses a policy whose memberRoleName is not the role the deployment may assume', async () => {
    const env = lambdaEnv({ MEMBER_ROLE_NAME: 'SomeOtherRole' });

    await expect(loadDeployedPolicy(env, ssm())).rejects.toThrow(/memberRoleName \(ImdsRemediatorMemberRole\) differs .*SomeOtherRole/);
  });

  it('names a missing SSM parameter, and an invalid one by its bad field', async () => {
    const missing = lambdaEnv({ POLICY_SSM_PARAMETER: '/imds-remediator/absent' });
    await expect(loadDeployedPolicy(missing, ssm())).rejects.toThrow(new InputError('SSM parameter /imds-remediator/absent does not exist'));

    await new SSMClient({}).send(new PutParameterCommand({ Name: '/imds-remediator/bad', Type: 'String', Value: 'lookbackDays: 99' }));
    const invalid = lambdaEnv({ POLICY_SSM_PARAMETER: '/imds-remediator/bad' });
    const failure = await loadDeployedPolicy(invalid, ssm()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PolicyError);
    expect((failure as PolicyError).problems.join()).toMatch(/^lookbackDays: /);
  });

  it('rejects a bad mode in the environment, naming the variable', () => {
    expect(() => lambdaEnv({ SWEEP_MODE: 'yolo' })).toThrow(/SWEEP_MODE/);
  });
});

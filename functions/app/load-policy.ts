// The one policy loader, for the CLI (a file) and the Lambda functions (a bundled file or an
// SSM parameter): read the text, then validate it, naming the source in every error.
import { readFile } from 'node:fs/promises';
import { describeError, InputError } from '../domain/errors.ts';
import { parsePolicyText, type Policy } from '../domain/policy.ts';

export type PolicySource = { file: string } | { ssmParameter: string };

export const describeSource = (source: PolicySource): string =>
  'ssmParameter' in source ? `SSM parameter ${source.ssmParameter}` : source.file;

const readSource = async (source: PolicySource, readParameter?: (name: string) => Promise<string>): Promise<string> => {
  if ('ssmParameter' in source) {
    if (!readParameter) throw new InputError(`cannot read ${describeSource(source)}: no SSM client is configured`);
    return readParameter(source.ssmParameter);
  }
  try {
    return await readFile(source.file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read policy file ${source.file}: ${describeError(error)}`, { cause: error });
  }
};

/** Reads and validates a policy; throws InputError (exit code 2 in the CLI) naming what is wrong. */
export const loadPolicy = async (source: PolicySource, readParameter?: (name: string) => Promise<string>): Promise<Policy> =>
  parsePolicyText(await readSource(source, readParameter), describeSource(source));

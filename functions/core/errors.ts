// Small named errors that keep their cause; the CLI maps InputError to exit code 2.

export class InputError extends Error {
  override name = 'InputError';
}

export class PolicyError extends InputError {
  override name = 'PolicyError';
  constructor(
    readonly problems: string[],
    options?: ErrorOptions,
  ) {
    super(`invalid policy: ${problems.join('; ')}`, options);
  }
}

/** An AWS call failed in a way that means something (role missing, access denied, region down). */
export class ScopeFailure extends Error {
  override name = 'ScopeFailure';
}

export const describeError = (error: unknown): string => {
  if (error instanceof Error) {
    const code = (error as { Code?: unknown }).Code;
    const prefix = typeof code === 'string' && code !== error.name ? `${code}: ` : '';
    return `${error.name === 'Error' ? '' : `${error.name}: `}${prefix}${error.message}`;
  }
  return String(error);
};

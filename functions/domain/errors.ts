// Small named errors that keep their cause; the CLI maps InputError to exit code 2.

export class InputError extends Error {
  override name = 'InputError';
}

/** Input that failed validation; each problem names its field. */
export class ValidationError extends InputError {
  constructor(
    what: string,
    readonly problems: string[],
    options?: ErrorOptions,
  ) {
    super(`${what}: ${problems.join('; ')}`, options);
  }
}

export class PolicyError extends ValidationError {
  override name = 'PolicyError';
  constructor(problems: string[], options?: ErrorOptions) {
    super('invalid policy', problems, options);
  }
}

/** A CloudTrail event that cannot be read; never retried (it would fail the same way). */
export class EventError extends ValidationError {
  override name = 'EventError';
  constructor(problems: string[], options?: ErrorOptions) {
    super('malformed event', problems, options);
  }
}

/** `scope.accounts[0]`, from a zod issue path, under an optional prefix. */
export const fieldName = (path: ReadonlyArray<PropertyKey>, prefix = ''): string =>
  [prefix, ...path].reduce<string>(
    (name, part) => (typeof part === 'number' ? `${name}[${part}]` : name ? `${name}.${String(part)}` : String(part)),
    '',
  );

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

/**
 * A paginated read that would not end: an answer repeated a NextToken the read had already
 * followed, or the pages passed the read's cap. Following such an answer again would call
 * the API forever and grow memory with every page.
 */
export class PaginationError extends Error {
  override name = 'PaginationError';
  constructor(
    readonly operation: string,
    readonly reason: 'repeated-token' | 'page-cap',
    readonly pages: number,
  ) {
    super(
      reason === 'repeated-token'
        ? `${operation} answered a NextToken it had already given, after ${pages} pages`
        : `${operation} still had a NextToken after ${pages} pages, its cap`,
    );
  }
}

/** How many unread ids an EvidenceReadError names in its message; the rest are counted. */
const UNREAD_IDS_NAMED = 5;

/**
 * A metric that could not be read for some instances, even in the smallest calls; the
 * read went on for the others, and what it read is kept in `read`.
 */
export class EvidenceReadError<T> extends Error {
  override name = 'EvidenceReadError';
  constructor(
    readonly metric: string,
    readonly unreadIds: string[],
    readonly read: ReadonlyMap<string, T>,
    options: ErrorOptions,
  ) {
    const named = unreadIds.slice(0, UNREAD_IDS_NAMED).join(', ');
    const more = unreadIds.length > UNREAD_IDS_NAMED ? ` and ${unreadIds.length - UNREAD_IDS_NAMED} more` : '';
    super(`${metric} unread for ${unreadIds.length} instances (${named}${more}): ${describeError(options.cause)}`, options);
  }
}

// Small named errors that keep their cause; the CLI maps InputError to exit code 2.
import type { z } from 'zod';

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
  constructor(problems: string[], options?: ErrorOptions, what = 'malformed event') {
    super(what, problems, options);
  }
}

/**
 * A well-formed event that must not be acted on: its envelope and its detail name different
 * accounts or regions, its caller belongs to another account, or its account is not an ACTIVE
 * member of the organization. Rejected like a malformed event, and never retried.
 */
export class UntrustedEventError extends EventError {
  override name = 'UntrustedEventError';
  constructor(problems: string[]) {
    super(problems, undefined, 'untrusted event');
  }
}

/** `scope.accounts[0]`, from a zod issue path, under an optional prefix. */
export const fieldName = (path: ReadonlyArray<PropertyKey>, prefix = ''): string =>
  [prefix, ...path].reduce<string>(
    (name, part) => (typeof part === 'number' ? `${name}[${part}]` : name ? `${name}.${String(part)}` : String(part)),
    '',
  );

/**
 * Zod's issues as problems that each name their field (`scope.regions[0]: …`); an unknown key
 * is named by itself. The one formatter for the policy, events, payloads and the environment.
 */
export const formatIssues = (issues: readonly z.core.$ZodIssue[], prefix = '', root = '(root)'): string[] =>
  issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => `${fieldName([...issue.path, key], prefix)}: unknown key`)
      : [`${fieldName(issue.path, prefix) || root}: ${issue.message}`],
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

// What an AWS answer means for one instance; adapters translate the service's error codes into
// these, so that no code outside functions/adapters/ matches an AWS error code.

/** The instance no longer exists (terminated between discovery and the call). */
export class InstanceGoneError extends Error {
  override name = 'InstanceGoneError';
}

/** The instance cannot take the change yet (still pending after launch). */
export class InstanceNotReadyError extends Error {
  override name = 'InstanceNotReadyError';
}

/** EC2 refuses this change outright, e.g. re-opening IMDSv1 where the account enforces IMDSv2. */
export class UnsupportedChangeError extends Error {
  override name = 'UnsupportedChangeError';
}

/** A paged listing that could not be read to its end (a repeated page token, or too many pages). */
export class IncompleteListingError extends Error {
  override name = 'IncompleteListingError';
}

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

/**
 * A paged read stopped between pages because the run's time was up: what it read is not a
 * complete answer, and the run must not act on it as one.
 */
export class OutOfTimeError extends Error {
  override name = 'OutOfTimeError';
  constructor(
    readonly operation: string,
    readonly pages: number,
  ) {
    super(`${operation} stopped after ${pages} pages: the run's time was up`);
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

/**
 * Another run holds the lease of this account-region and did not let go within the time this
 * run may wait. Retryable: the platform delivers the event again later.
 */
export class LeaseBusyError extends Error {
  override name = 'LeaseBusyError';
}

/**
 * IAM refused a launch-template write: the role was deployed without FixLaunchTemplates=true,
 * which grants it (off by default, a privilege escalation: docs/SECURITY.md). The template is
 * left as it was; the message says what to set.
 */
export class TemplateFixNotAllowedError extends Error {
  override name = 'TemplateFixNotAllowedError';
  constructor(operation: string, launchTemplateId: string, options?: ErrorOptions) {
    super(
      `${operation} on ${launchTemplateId} was denied: launch templates are fixed only where the role allows it; ` +
        `deploy the member role (infra/member-role.yml) with FixLaunchTemplates=true, or the central stack with ` +
        `--param="fixLaunchTemplates=true" for the central account, after reading docs/SECURITY.md`,
      options,
    );
  }
}

/** A new launch-template version whose launch data, read back, is not the source's (metadata options aside): it is not made the default. */
export class TemplateCopyMismatchError extends Error {
  override name = 'TemplateCopyMismatchError';
  constructor(
    readonly version: number,
    readonly fields: string[],
  ) {
    super(`version ${version} differs from its source in ${fields.join(', ')}: not made the default`);
  }
}

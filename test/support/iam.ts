// A small evaluator of IAM policy statements against a request context, for template tests that
// assert what a policy allows or denies rather than how it is spelled. It understands the
// condition operators our templates use, with IAM's rules for keys missing from the request
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html),
// and nothing else: an operator it does not know throws.
import { asArray, type Json, type Statement } from './cfn.ts';

/** The request: its action and condition keys (a multivalued key, such as aws:TagKeys, as a list). */
export interface Request {
  action: string;
  context: Record<string, string | string[]>;
  /** The resource's ARN: statements then count only where their Resource matches it. */
  resource?: string;
}

const wildcard = (pattern: string, value: string) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value);

type Match = (policyValue: string, requestValue: string) => boolean;
const MATCHERS: Record<string, { match: Match; negated: boolean }> = {
  StringEquals: { match: (p, r) => p === r, negated: false },
  StringNotEquals: { match: (p, r) => p === r, negated: true },
  StringLike: { match: wildcard, negated: false },
  StringNotLike: { match: wildcard, negated: true },
  ArnEquals: { match: wildcard, negated: false },
  ArnLike: { match: wildcard, negated: false },
  ArnNotEquals: { match: wildcard, negated: true },
  ArnNotLike: { match: wildcard, negated: true },
  NumericEquals: { match: (p, r) => Number(r) === Number(p), negated: false },
  NumericLessThanEquals: { match: (p, r) => Number(r) <= Number(p), negated: false },
  NumericGreaterThanEquals: { match: (p, r) => Number(r) >= Number(p), negated: false },
  Bool: { match: (p, r) => p === r, negated: false },
};

const keyMatches = (operator: string, policyValues: string[], requestValue: string | string[] | undefined): boolean => {
  if (operator === 'Null') return (requestValue === undefined) === (policyValues[0] === 'true');
  const [qualifier, named] = operator.includes(':') ? operator.split(':') : ['', operator];
  // …IfExists: a key absent from the request satisfies the condition; a present one is compared.
  const ifExists = named?.endsWith('IfExists') ?? false;
  const base = ifExists ? named?.slice(0, -'IfExists'.length) : named;
  if (ifExists && requestValue === undefined) return true;
  const matcher = MATCHERS[base ?? ''];
  if (!matcher) throw new Error(`the test evaluator does not understand ${operator}`);
  const anyPolicyValue = (r: string) => policyValues.some((p) => matcher.match(p, r));
  const requestValues = requestValue === undefined ? [] : asArray(requestValue);
  if (qualifier === 'ForAllValues') {
    // True for an empty set; a negated operator means "none of the policy values".
    return requestValues.every((r) => anyPolicyValue(r) !== matcher.negated);
  }
  if (qualifier === 'ForAnyValue') return requestValues.some((r) => anyPolicyValue(r) !== matcher.negated);
  // A single-valued key absent from the request matches only a negated operator.
  if (requestValue === undefined) return matcher.negated;
  return requestValues.some((r) => anyPolicyValue(r)) !== matcher.negated;
};

const stringsOf = (value: Json): string[] => asArray(value as Json | Json[]).map((v) => {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`unresolved condition value ${JSON.stringify(v)}: resolve Refs first`);
});

/** Every condition of the statement holds for the request (all operators, all keys). */
export const conditionHolds = (statement: Statement, request: Request): boolean =>
  Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, value]) => keyMatches(operator, stringsOf(value), request.context[key])),
  );

const resourceMatches = (statement: Statement, resource: string | undefined) =>
  resource === undefined ||
  asArray(statement.Resource as Json | Json[]).some((pattern) => {
    if (typeof pattern !== 'string') throw new Error(`unresolved resource ${JSON.stringify(pattern)}: resolve Fn::Sub first`);
    return wildcard(pattern, resource);
  });

const appliesTo = (statement: Statement, request: Request) =>
  asArray(statement.Action).some((action) => wildcard(action.toLowerCase(), request.action.toLowerCase())) &&
  resourceMatches(statement, request.resource) &&
  conditionHolds(statement, request);

/** IAM's verdict for these statements alone: an explicit deny wins, else an allow, else an implicit deny. */
export const decision = (statements: Statement[], request: Request): 'allowed' | 'denied' | 'implicitly denied' => {
  const applicable = statements.filter((s) => appliesTo(s, request));
  if (applicable.some((s) => s.Effect === 'Deny')) return 'denied';
  return applicable.some((s) => s.Effect === 'Allow') ? 'allowed' : 'implicitly denied';
};

/** Replaces `{ Ref: name }` and `${name}` inside `Fn::Sub` strings with the given values. */
export const substitute = (value: Json, values: Record<string, string>): Json => {
  if (Array.isArray(value)) return value.map((v) => substitute(v, values));
  if (value === null || typeof value !== 'object') return value;
  if (typeof value.Ref === 'string' && value.Ref in values) return values[value.Ref] ?? null;
  if (typeof value['Fn::Sub'] === 'string') {
    return value['Fn::Sub'].replace(/\$\{([\w:.]+)\}/g, (whole, name: string) => values[name] ?? whole);
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, values)]));
};

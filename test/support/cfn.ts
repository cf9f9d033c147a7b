// Reads CloudFormation templates (YAML with intrinsic tags, or osls' generated JSON) as plain data.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse, type Tags } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface Template {
  Parameters?: Record<string, Json>;
  Conditions?: Record<string, Json>;
  Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, Json> }>;
  Outputs?: Record<string, Json>;
}

const INTRINSICS = ['Ref', 'Sub', 'GetAtt', 'Join', 'If', 'Not', 'Equals', 'Select', 'Split', 'FindInMap', 'ImportValue', 'Base64', 'GetAZs'];
// `!Sub x` becomes { 'Fn::Sub': x }, as CloudFormation itself reads it.
const wrap = (name: string, value: unknown) => ({
  [name === 'Ref' ? 'Ref' : `Fn::${name}`]: name === 'GetAtt' && typeof value === 'string' ? value.split('.') : value,
});
const cfnTags: Tags = INTRINSICS.flatMap((name) => [
  { tag: `!${name}`, resolve: (text: string) => wrap(name, text) },
  ...(['seq', 'map'] as const).map((collection) => ({
    tag: `!${name}`,
    collection,
    resolve: (node: { toJSON(): unknown }) => wrap(name, node.toJSON()),
  })),
]) as unknown as Tags;

export const readYamlTemplate = (path: string): Template => parse(readFileSync(path, 'utf8'), { customTags: cfnTags }) as Template;

export const GENERATED_TEMPLATE = '.serverless/cloudformation-template-update-stack.json';

/** Runs `npm run package` (osls, offline) and reads the template it generated. */
export const packageAndReadTemplate = (): Template => {
  const run = spawnSync('npm', ['run', '--silent', 'package'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`npm run package failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(readFileSync(GENERATED_TEMPLATE, 'utf8')) as Template;
};

export const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: Json;
  /** Trust policies name who may act instead of on what. */
  Principal?: Json;
  Condition?: Record<string, Record<string, Json>>;
}

/** A statement that is `Fn::If [cond, a, AWS::NoValue]` counts with both branches. */
const unfold = (statement: Json): Statement[] => {
  if (statement && typeof statement === 'object' && !Array.isArray(statement) && 'Fn::If' in statement) {
    const [, yes, no] = statement['Fn::If'] as [string, Json, Json];
    return [yes, no].flatMap(unfold);
  }
  if (statement && typeof statement === 'object' && !Array.isArray(statement) && 'Ref' in statement) return [];
  return [statement as unknown as Statement];
};

/** Every statement of every inline policy of each IAM role, by role. */
export const roleStatements = (template: Template): Map<string, Statement[]> => {
  const roles = new Map<string, Statement[]>();
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Role') continue;
    const policies = asArray(resource.Properties.Policies as Array<{ PolicyDocument: { Statement: Json[] } }> | undefined);
    roles.set(id, policies.flatMap((p) => p.PolicyDocument.Statement.flatMap(unfold)));
  }
  return roles;
};

export const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => asArray(s.Action));

const isObject = (value: Json): value is { [key: string]: Json } => typeof value === 'object' && value !== null && !Array.isArray(value);
const NO_VALUE = Symbol('AWS::NoValue');

/**
 * The template as CloudFormation would create it with these parameter values (the others take
 * their defaults): conditions evaluated, resources whose condition is false left out, `Fn::If`
 * resolved and `AWS::NoValue` removed. Only what our templates use is understood.
 */
export const resolveConditions = (template: Template, values: Record<string, string> = {}): Template => {
  const parameter = (name: string): Json => {
    if (name in values) return values[name] ?? null;
    const declared = template.Parameters?.[name] ?? null;
    const fallback = isObject(declared) ? declared.Default : undefined;
    if (fallback === undefined) throw new Error(`no value for parameter ${name}`);
    return fallback;
  };
  const conditions = new Map<string, boolean>();
  const condition = (name: string): boolean => {
    const known = conditions.get(name);
    if (known !== undefined) return known;
    const definition = template.Conditions?.[name];
    if (definition === undefined) throw new Error(`no condition ${name}`);
    const result = evaluate(definition);
    conditions.set(name, result);
    return result;
  };
  const scalar = (value: Json): Json => (isObject(value) && typeof value.Ref === 'string' ? parameter(value.Ref) : value);
  const evaluate = (expression: Json): boolean => {
    if (!isObject(expression)) throw new Error(`not a condition: ${JSON.stringify(expression)}`);
    const [[fn, args] = ['', null]] = Object.entries(expression);
    const list = Array.isArray(args) ? args : [args];
    switch (fn) {
      case 'Fn::Not':
        return !evaluate(list[0] ?? null);
      case 'Fn::And':
        return list.every(evaluate);
      case 'Fn::Or':
        return list.some(evaluate);
      case 'Fn::Equals':
        return JSON.stringify(scalar(list[0] ?? null)) === JSON.stringify(scalar(list[1] ?? null));
      case 'Condition':
        return condition(String(args));
      default:
        throw new Error(`the test resolver does not understand ${fn}`);
    }
  };
  const resolve = (value: Json): Json | typeof NO_VALUE => {
    if (Array.isArray(value)) return value.map(resolve).filter((v): v is Json => v !== NO_VALUE);
    if (!isObject(value)) return value;
    if (value.Ref === 'AWS::NoValue') return NO_VALUE;
    const choice = value['Fn::If'];
    if (Array.isArray(choice)) return resolve((condition(String(choice[0])) ? choice[1] : choice[2]) ?? null);
    const entries: Array<[string, Json]> = [];
    for (const [k, v] of Object.entries(value)) {
      const resolved = resolve(v);
      if (resolved !== NO_VALUE) entries.push([k, resolved]);
    }
    return Object.fromEntries(entries);
  };
  const resources = Object.entries(template.Resources)
    .filter(([, r]) => r.Condition === undefined || condition(r.Condition))
    .map(([id, r]) => [id, resolve(r as unknown as Json)]);
  return { ...template, Resources: Object.fromEntries(resources) as Template['Resources'] };
};

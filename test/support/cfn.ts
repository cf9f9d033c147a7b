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

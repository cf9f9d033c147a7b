// `imds-remediator guardrails`: is each account and OU ready for prevention, and the guardrails a
// person would attach. It runs the sweep as a plan (no change, no finding, no Slack message),
// judges readiness from the sweep's own results, writes the SCP and the declarative policy, and
// prints the commands that would attach them. It never attaches anything.
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonLinesLog } from '../../adapters/json-lines-log.ts';
import { describeError, InputError } from '../../domain/errors.ts';
import type { ScopeError } from '../../domain/model.ts';
import { hopLimitCeiling, type Policy } from '../../domain/policy.ts';
import { declarativePolicyDocument, SCP_MAX_CHARS, scpDocument } from '../../guardrails/documents.ts';
import { accountReadiness, attachTargets, unitReadiness, type SweepOrganization, type TemplateFact } from '../../guardrails/readiness.ts';
import { attachCommands, renderGuardrails, type GuardrailsReport } from '../../guardrails/render.ts';
import { runSweepWithPlan } from '../../sweep/run.ts';
import { composeWorld, type ComposeOptions } from '../compose.ts';
import type { Environment } from '../config.ts';

export const DEFAULT_OUT_DIR = 'guardrails';
const MANAGEMENT_UNKNOWN =
  'the management account could not be identified (organizations:DescribeOrganization): an account listed as a target may be it, and SCPs do not restrict it';
export const SCP_FILE = 'scp-require-imdsv2.json';
export const DECLARATIVE_POLICY_FILE = 'declarative-policy-ec2-imdsv2.json';

const codeOf = (error: unknown) => (typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined);

/**
 * Makes --out a directory the command can write, before any AWS call: a file in the way, a
 * directory without write permission or a path that cannot be created is bad input (exit 2).
 */
export const prepareOutDir = (dir: string): string => {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new InputError(`--out ${dir} is a file, not a directory`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    const why = codeOf(error) === 'EEXIST' || codeOf(error) === 'ENOTDIR' ? 'a file is in the way' : describeError(error);
    throw new InputError(`--out ${dir} cannot be created as a directory: ${why}`, { cause: error });
  }
  if (!statSync(dir).isDirectory()) throw new InputError(`--out ${dir} is a file, not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new InputError(`--out ${dir} is not writable: ${codeOf(error) ?? describeError(error)}`, { cause: error });
  }
  return dir;
};

/** Account-regions (and whole accounts) the sweep could not read, per account. */
const unsweptShards = (errors: ScopeError[]) => {
  const byAccount = new Map<string, Set<string>>();
  for (const e of errors) byAccount.set(e.accountId, (byAccount.get(e.accountId) ?? new Set()).add(e.region ?? '*'));
  return (accountId: string) => byAccount.get(accountId)?.size ?? 0;
};

/**
 * Writes a file without following a link planted at its path in a shared --out: a fresh temporary
 * file in the same directory (`wx` refuses anything already there), then renamed over the path,
 * which replaces a link instead of writing through it.
 */
const writeNew = (path: string, text: string) => {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, text, { flag: 'wx', mode: 0o644 });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
};

export interface GuardrailsOptions {
  json: boolean;
  concurrency: number;
  outDir: string;
  /**
   * Sweep every enabled region of each account, whatever the policy's scope.regions says: an SCP
   * and a declarative policy apply in every region, so readiness needs them all. Reading only.
   */
  allRegions?: boolean | undefined;
}

/** Prints the report and returns 0 when every account in scope is ready, 1 otherwise. */
export const runGuardrailsCommand = async (
  options: GuardrailsOptions,
  given: Policy,
  env: Environment,
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
  customizeClient?: ComposeOptions['customizeClient'],
): Promise<number> => {
  const outDir = prepareOutDir(options.outDir);
  const policy: Policy = options.allRegions ? { ...given, scope: { ...given.scope, regions: [] } } : given;
  // A plan posts no Slack summary here: this command reports to the person who ran it.
  const world = { ...composeWorld({ policy, env, customizeClient }), notifier: undefined };
  // Only warnings reach stderr: the decisions of every instance are `plan`'s to log.
  const log = new JsonLinesLog(io.stderr, 'WARN');
  const { report, plan } = await runSweepWithPlan(world, policy, { apply: false, log, concurrency: options.concurrency, findings: false });
  const organization: SweepOrganization | undefined = plan.organization;
  if (!organization) throw new Error('the organization tree could not be read (ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent): readiness per OU needs it');

  const unswept = unsweptShards(report.errors);
  const swept = Object.entries(organization.plannedShards).map(([accountId, planned]) => ({
    accountId,
    plannedShards: planned,
    sweptShards: Math.max(planned - unswept(accountId), 0),
    unsweptRegions: organization.unsweptRegions?.[accountId],
  }));
  // A template the sweep left allowing IMDSv1 keeps its account not ready.
  const templates: TemplateFact[] = report.templates;
  const accounts = accountReadiness({ tree: organization.tree, swept, instances: report.instances, templates, hopCeiling: hopLimitCeiling(policy) });
  const readyAccounts = new Set(accounts.filter((a) => a.ready).map((a) => a.accountId));
  const units = unitReadiness(organization.tree, (id) => readyAccounts.has(id));

  const { partition } = await world.organization.caller();
  const scp = scpDocument(policy, partition);
  if (scp.length > SCP_MAX_CHARS) throw new Error(`the SCP is ${scp.length} characters, above the ${SCP_MAX_CHARS} Organizations accepts`);
  const files = { scp: join(outDir, SCP_FILE), scpChars: scp.length, declarativePolicy: join(outDir, DECLARATIVE_POLICY_FILE) };
  writeNew(files.scp, scp);
  writeNew(files.declarativePolicy, declarativePolicyDocument(policy));

  const managementAccountId = await world.organization.managementAccountId();
  const targets = attachTargets(units, accounts, managementAccountId);
  const rootIds = organization.tree.units.filter((u) => u.parentId === null).map((u) => u.id);
  const inScope = accounts.filter((a) => a.accountId in organization.plannedShards);
  const result: GuardrailsReport = {
    ready: inScope.length > 0 && inScope.every((a) => a.ready) && report.summary.errors === 0,
    summary: {
      accounts: inScope.length,
      readyAccounts: inScope.filter((a) => a.ready).length,
      units: units.length,
      readyUnits: units.filter((u) => u.ready).length,
      sweepErrors: report.errors.length,
    },
    errors: report.errors,
    units,
    accounts,
    files,
    targets,
    commands: attachCommands(files, targets, rootIds),
    ...(managementAccountId === undefined ? { warnings: [MANAGEMENT_UNKNOWN] } : {}),
  };
  io.stdout(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${renderGuardrails(result)}\n`);
  return result.ready ? 0 : 1;
};

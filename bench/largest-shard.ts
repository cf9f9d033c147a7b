// The largest shard: one account-region of many instances, swept by the deployed handlers
// (sweep-plan → the Map's child workflow looping sweep-shard → sweep-report) through the
// rate-limit proxy, so that AWS's per-account-region buckets pace every call. Each sweep-shard
// invocation gets Lambda's real time (sweep-shard's timeout in serverless.yml) and is timed;
// the figures are projected to the 50,000-instance shard docs/SCALE.md plans for.
import { spawn } from 'node:child_process';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { parsePolicy } from '../functions/domain/policy.ts';
import { MODIFY_METADATA_BUCKET } from '../functions/domain/token-bucket.ts';
import { AFTER_CHANGES_RESERVE_MS, INVOCATION_MARGIN_MS, PIECE_MAX_CHANGES } from '../functions/sweep/pieces.ts';
import { LocalAws, MANAGEMENT_ACCOUNT } from '../local/local-aws.ts';
import { motoEnvironment, type MotoServer } from '../local/moto-server.ts';
import { readYamlTemplate } from '../test/support/cfn.ts';
import { RunFailed } from './check.ts';
import { LARGEST_SHARD_PREFIX, type ExecutionResult, type InvocationTiming } from './largest-shard-protocol.ts';
import { random, seedShard } from './org.ts';
import { benchPolicy } from './policy.ts';
import { AWS_RATE_LIMITS, startRateLimitProxy, type RateLimitProxy } from './rate-limit-proxy.ts';

export interface LargestShardParams {
  instances: number;
  region: string;
  seed: number;
  lookbackDays: number;
  /** Also run the rollout day (apply on the same estate). */
  apply: boolean;
  /** Each invocation's time; default sweep-shard's timeout in serverless.yml (tests make it short). */
  timeoutMs?: number | undefined;
  /** SWEEP_PIECE_INSTANCES for the deployed function; default the deployed piece. */
  pieceInstances?: number | undefined;
}

/** One execution of the sweep: each sweep-shard invocation, and the calls that reached moto or were throttled. */
export interface LargestShardRun {
  name: string;
  mode: 'plan' | 'apply';
  invocations: InvocationTiming[];
  maxInvocationMs: number;
  wallMs: number;
  instances: number;
  changed: number;
  toChange: number;
  byVerdict: Record<string, number>;
  calls: number;
  callsByOperation: Record<string, number>;
  throttled: Record<string, number>;
}

const BUCKET = 'imds-remediator-bench-largest-shard';
const POLICY_PARAMETER = '/imds-remediator/bench-policy';
/** moto's pages are slow on a loaded 2-core machine; AWS answers them in about a second. */
const REQUEST_TIMEOUT_MS = '300000';

/** sweep-shard's timeout as deployed (serverless.yml), in ms. */
export const deployedShardTimeoutMs = (): number => {
  const functions = (readYamlTemplate('serverless.yml') as unknown as { functions: Record<string, { timeout?: number }> }).functions;
  const seconds = functions['sweep-shard']?.timeout;
  if (typeof seconds !== 'number') throw new Error('serverless.yml sets no timeout for sweep-shard');
  return seconds * 1000;
};

/**
 * The account-region, the deployment's bucket and its policy in SSM. One datapoint a series:
 * moto's GetMetricData scans every stored datapoint per query (the calls are the same at 14 a
 * series), so the policy asks for one observed day. Reservations of one instance give
 * DescribeInstances AWS's pages of at most 1,000 (moto pages by reservation).
 */
const seed = async (moto: MotoServer, params: LargestShardParams) => {
  await moto.reset();
  const aws = new LocalAws();
  await aws.createOrganization([]);
  const byKind: Record<string, number> = {};
  await seedShard(aws, MANAGEMENT_ACCOUNT, params.region, params.instances, params.lookbackDays, random(params.seed), byKind, 1, 1);
  const policy = parsePolicy({ ...benchPolicy([params.region], params.lookbackDays), minObservedDays: 1 });
  await new S3Client({}).send(new CreateBucketCommand({ Bucket: BUCKET }));
  await new SSMClient({}).send(new PutParameterCommand({ Name: POLICY_PARAMETER, Type: 'String', Value: JSON.stringify(policy), Overwrite: true }));
  return { byKind, memberRoleName: policy.memberRoleName };
};

const execute = (env: NodeJS.ProcessEnv, input: object) =>
  new Promise<ExecutionResult>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/largest-shard-run.ts', JSON.stringify(input)], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(LARGEST_SHARD_PREFIX));
      const exit = signal ? `was ended by ${signal}` : `exited with code ${code}`;
      if (code !== 0 || !line) return reject(new RunFailed([`largest shard: the execution's process ${exit} (its stderr is above)`]));
      resolve(JSON.parse(line.slice(LARGEST_SHARD_PREFIX.length)) as ExecutionResult);
    });
  });

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** One execution in a fresh process (a new day, a cold container), every bucket full at its start. */
const runExecution = async (
  proxy: RateLimitProxy,
  params: LargestShardParams,
  deployment: { memberRoleName: string; timeoutMs: number },
  name: string,
  mode: 'plan' | 'apply',
): Promise<LargestShardRun> => {
  proxy.resetBuckets();
  proxy.resetCounts();
  const env = {
    ...process.env,
    ...motoEnvironment(proxy.endpoint, params.region),
    SWEEP_MODE: mode,
    POLICY_SSM_PARAMETER: POLICY_PARAMETER,
    SWEEP_BUCKET: BUCKET,
    MEMBER_ROLE_NAME: deployment.memberRoleName,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    AWS_REQUEST_TIMEOUT_MS: process.env.AWS_REQUEST_TIMEOUT_MS ?? REQUEST_TIMEOUT_MS,
    ...(params.pieceInstances === undefined ? {} : { SWEEP_PIECE_INSTANCES: String(params.pieceInstances) }),
  };
  const result = await execute(env, { bucket: BUCKET, timeoutMs: deployment.timeoutMs });
  const { summary } = result;
  // Counted only when every seeded instance was reported, once, without an error.
  const reported = result.invocations.reduce((a, i) => a + i.reported, 0);
  const problems = [
    ...(summary.errors > 0 ? [`${name}: ${summary.errors} errors (first: ${result.errors[0] ?? 'an instance whose verdict is error'})`] : []),
    ...(summary.instances !== params.instances ? [`${name}: reported ${summary.instances} of the ${params.instances} instances seeded`] : []),
    ...(reported !== summary.instances ? [`${name}: the invocations reported ${reported} instances, the report ${summary.instances}`] : []),
  ];
  if (problems.length > 0) throw new RunFailed(problems);
  // The proxy names REST operations only for Security Hub: the unnamed ones are S3's (the Map's
  // items and results, the report's reads, the leases).
  const callsByOperation = Object.fromEntries(Object.entries(proxy.forwarded()).map(([op, n]) => [op || 'S3', n]));
  return {
    name,
    mode,
    invocations: result.invocations,
    maxInvocationMs: Math.max(...result.invocations.map((i) => i.ms)),
    wallMs: result.wallMs,
    instances: summary.instances,
    changed: summary.changed,
    toChange: summary.toChange,
    byVerdict: Object.fromEntries(Object.entries(summary.byVerdict).filter(([, n]) => (n ?? 0) > 0)) as Record<string, number>,
    calls: sum(callsByOperation),
    callsByOperation,
    throttled: proxy.throttled(),
  };
};

// ---- the projection to the largest shard docs/SCALE.md plans for ----

export const PROJECTED_INSTANCES = 50_000;
/** docs/SCALE.md's worst rollout day: 40 % of instances allow IMDSv1 and are all clean. */
const WORST_CHANGED_FRACTION = 0.4;

/** Per call, besides its rate: docs/SCALE.md's assumed AWS latencies (moto's own are Python's, not AWS's). */
const ASSUMED_LATENCY_S = { DescribeInstances: 1, GetMetricData: 1, GetFindings: 0.3, BatchImportFindings: 0.3 } as const;

const bucketOf = (name: string) => {
  const limit = AWS_RATE_LIMITS.find((l) => l.name === name);
  if (!limit) throw new Error(`no rate limit named ${name}`);
  return limit;
};

export interface ProjectedPhase {
  call: string;
  calls: number;
  seconds: number;
  arithmetic: string;
}

export interface ProjectedRollout {
  changes: number;
  invocations: number;
  longestInvocationS: number;
  arithmetic: string[];
}

export interface Projection {
  instances: number;
  steadyState: { phases: ProjectedPhase[]; seconds: number; invocations: number };
  /** At the fraction of instances the measured rollout day changed. */
  rollout: ProjectedRollout;
  /** At docs/SCALE.md's worst case: 40 % of instances changed. */
  worstRollout: ProjectedRollout;
  workingSeconds: number;
}

const round = (x: number, places = 1) => Math.round(x * 10 ** places) / 10 ** places;

/**
 * 50,000 instances from a measured steady-state run of n: the listing is ⌈N/1,000⌉ pages,
 * GetFindings ⌈N/100⌉ pages of the findings already there (one an instance), GetMetricData
 * and BatchImportFindings scale with the instances (their measured count × N/n), each at its
 * bucket's pace or the assumed latency, whichever is longer. The rollout day adds the
 * changes at EC2's modify bucket, in pieces of PIECE_MAX_CHANGES, the fraction of instances
 * changed as measured.
 */
export const projectLargestShard = (
  steady: Pick<LargestShardRun, 'instances' | 'callsByOperation'>,
  /** Of the instances, the fraction the measured rollout day changed; undefined: none was run. */
  changedFraction: number | undefined,
  timeoutMs: number,
  target = PROJECTED_INSTANCES,
): Projection => {
  const scale = target / steady.instances;
  const measured = (op: string) => steady.callsByOperation[op] ?? 0;
  const pages = Math.ceil(target / 1000);
  const findingsPages = Math.ceil(target / 100);
  const metrics = Math.ceil(measured('GetMetricData') * scale);
  const imports = Math.ceil(measured('BatchImportFindings') * scale);
  const ec2 = bucketOf('ec2:non-mutating');
  const getFindings = bucketOf('securityhub:GetFindings');
  const getMetricData = bucketOf('cloudwatch:GetMetricData');
  const importBucket = bucketOf('securityhub:BatchImportFindings');
  // Sequential calls: each takes the longer of its bucket's spacing (after the burst) and its latency.
  const phase = (call: string, calls: number, latency: number, bucket: typeof ec2, why: string): ProjectedPhase => {
    const rate = Math.max(0, calls - bucket.capacity) / bucket.refillPerSecond;
    const seconds = Math.max(calls * latency, rate);
    return { call, calls, seconds: round(seconds), arithmetic: `${why}: max(${calls} × ${latency} s, (${calls} − ${bucket.capacity}) / ${bucket.refillPerSecond} s⁻¹ = ${round(rate)} s) = ${round(seconds)} s` };
  };
  const listing = phase('DescribeInstances', pages, ASSUMED_LATENCY_S.DescribeInstances, ec2, `⌈${target} / 1,000⌉ pages`);
  const findingsRead = phase('GetFindings', findingsPages, ASSUMED_LATENCY_S.GetFindings, getFindings, `⌈${target} / 100⌉ pages`);
  const phases = [
    listing,
    findingsRead,
    phase('GetMetricData', metrics, ASSUMED_LATENCY_S.GetMetricData, getMetricData, `${measured('GetMetricData')} measured × ${round(scale, 2)}`),
    phase('BatchImportFindings', imports, ASSUMED_LATENCY_S.BatchImportFindings, importBucket, `${measured('BatchImportFindings')} measured × ${round(scale, 2)}`),
  ];
  const seconds = round(phases.reduce((a, p) => a + p.seconds, 0));
  const workingSeconds = (timeoutMs - INVOCATION_MARGIN_MS) / 1000;

  const setup = listing.seconds + findingsRead.seconds;
  return {
    instances: target,
    steadyState: { phases, seconds, invocations: seconds <= workingSeconds ? 1 : Math.ceil(seconds / workingSeconds) },
    rollout: projectRollout(
      Math.round(target * (changedFraction ?? WORST_CHANGED_FRACTION)),
      `${target} × ${round((changedFraction ?? WORST_CHANGED_FRACTION) * 100)} % changed (${changedFraction === undefined ? 'assumed: no rollout day was run' : 'as measured'})`,
      setup,
      workingSeconds,
      timeoutMs,
    ),
    worstRollout: projectRollout(Math.round(target * WORST_CHANGED_FRACTION), `${target} × 40 % (every optional instance clean, docs/SCALE.md's worst case)`, setup, workingSeconds, timeoutMs),
    workingSeconds,
  };
};

/**
 * The rollout day: every invocation lists and reads the findings again (`setup`), then runs
 * pieces of PIECE_MAX_CHANGES changes (at EC2's 5 a second, and 9 s besides, as docs/SCALE.md
 * assumes) while the time left covers one more piece and the reserve after it. The first
 * invocation starts with the bucket's burst, a continuation with an empty bucket.
 */
const projectRollout = (changes: number, why: string, setup: number, workingSeconds: number, timeoutMs: number): ProjectedRollout => {
  const { capacity, refillPerSecond } = MODIFY_METADATA_BUCKET;
  const pieceBesidesModifies = 9;
  const pieceSeconds = PIECE_MAX_CHANGES / refillPerSecond + pieceBesidesModifies;
  const reserve = AFTER_CHANGES_RESERVE_MS / 1000;
  let left = changes;
  let invocations = 0;
  let longest = 0;
  while (left > 0 && invocations < 1000) {
    invocations++;
    let t = setup;
    let first = true;
    while (left > 0 && (first || workingSeconds - t >= pieceSeconds + reserve)) {
      const n = Math.min(PIECE_MAX_CHANGES, left);
      const burst = invocations === 1 && first ? Math.min(capacity, n) : 0;
      t += (n - burst) / refillPerSecond + pieceBesidesModifies;
      left -= n;
      first = false;
    }
    longest = Math.max(longest, t);
  }
  const pieces = 1 + Math.max(0, Math.floor((workingSeconds - setup - pieceSeconds - reserve) / pieceSeconds));
  const arithmetic = [
    `changes: ${why} = ${changes}`,
    `each invocation: setup (listing + findings read) ${round(setup)} s, then pieces of ${PIECE_MAX_CHANGES} changes (${PIECE_MAX_CHANGES} / ${refillPerSecond} s⁻¹ + ${pieceBesidesModifies} s = ${pieceSeconds} s), a further one only while ${pieceSeconds} + ${reserve} s are left of ${workingSeconds} s: 1 + ⌊(${workingSeconds} − ${round(setup)} − ${pieceSeconds + reserve}) / ${pieceSeconds}⌋ = ${pieces} pieces, ${pieces * PIECE_MAX_CHANGES} changes`,
    `⇒ ${invocations} invocation${invocations === 1 ? '' : 's'}, the longest ${round(longest)} s of ${timeoutMs / 1000} s`,
  ];
  return { changes, invocations, longestInvocationS: round(longest), arithmetic };
};

// ---- the phase ----

const say = (text = '') => process.stdout.write(`${text}\n`);

export interface LargestShardResult {
  instances: number;
  /** Invocations of the execution that needed the most. */
  invocations: number;
  /** The longest invocation of every execution. */
  maxInvocationMs: number;
  /** sweep-shard's timeout: every invocation must end inside it. */
  limitMs: number;
  seedMs: number;
  mix: Record<string, number>;
  runs: LargestShardRun[];
  projection: Projection;
}

const describeRun = (run: LargestShardRun) => {
  const durations = run.invocations.map((i) => `${(i.ms / 1000).toFixed(1)} s (${i.reported} reported${run.mode === 'apply' ? `, ${i.changed} changed` : ''})`).join(', ');
  const ops = Object.entries(run.callsByOperation).map(([op, c]) => `${op} ${c}`).join(', ');
  const throttled = sum(run.throttled);
  say(`${run.name}: ${run.invocations.length} invocation${run.invocations.length === 1 ? '' : 's'}: ${durations}`);
  say(`  ${run.calls} calls reached moto (${ops}); throttled ${throttled}${throttled > 0 ? ` (${JSON.stringify(run.throttled)})` : ''}; execution ${(run.wallMs / 1000).toFixed(1)} s`);
  if (run.mode === 'apply') say(`  ${run.changed} changed, ${run.toChange} left to change`);
};

/**
 * Seeds the account-region, then runs the sweep as deployed through the rate-limit proxy: the
 * first day (every finding imported), the steady state (every finding read back), and, with
 * `apply`, the rollout day on the same estate.
 */
export const measureLargestShard = async (
  moto: MotoServer,
  params: LargestShardParams,
  timed: <T>(what: string, work: () => Promise<T>) => Promise<T>,
): Promise<LargestShardResult> => {
  const timeoutMs = params.timeoutMs ?? deployedShardTimeoutMs();
  const seedStarted = performance.now();
  const seeded = await timed(`seeding one account-region with ${params.instances} instances (one a reservation)`, () => seed(moto, params));
  const seedMs = Math.round(performance.now() - seedStarted);
  const proxy = await startRateLimitProxy(moto.endpoint);
  const runs: LargestShardRun[] = [];
  try {
    const deployment = { memberRoleName: seeded.memberRoleName, timeoutMs };
    const plans: Array<[string, 'plan' | 'apply']> = [
      ['first day (plan, every finding new)', 'plan'],
      ['steady state (plan, every finding read back)', 'plan'],
      ...(params.apply ? [['rollout day (apply)', 'apply'] as [string, 'apply']] : []),
    ];
    for (const [name, mode] of plans) {
      const run = await timed(`largest shard, ${name}, through the rate-limit proxy`, () => runExecution(proxy, params, deployment, name, mode));
      describeRun(run);
      runs.push(run);
    }
  } finally {
    await proxy.close();
  }
  const steady = runs[1] ?? runs[0];
  const rollout = runs.find((r) => r.mode === 'apply');
  if (!steady) throw new Error('no execution ran');
  const changedFraction = rollout ? rollout.changed / rollout.instances : undefined;
  const projection = projectLargestShard(steady, changedFraction, timeoutMs);
  say(`projected to ${projection.instances} instances (steady state, from the run of ${steady.instances}; latencies assumed, rates AWS's):`);
  for (const p of projection.steadyState.phases) say(`  ${p.call}: ${p.arithmetic}`);
  say(`  total ≈ ${projection.steadyState.seconds} s: ${projection.steadyState.invocations} invocation(s) of ${projection.workingSeconds} s working time`);
  for (const [what, projected] of [['rollout day', projection.rollout], ['rollout day, worst case', projection.worstRollout]] as const) {
    say(`  ${what}:`);
    for (const line of projected.arithmetic) say(`    ${line}`);
  }
  return {
    instances: params.instances,
    invocations: Math.max(...runs.map((r) => r.invocations.length)),
    maxInvocationMs: Math.max(...runs.map((r) => r.maxInvocationMs)),
    limitMs: timeoutMs,
    seedMs,
    mix: seeded.byKind,
    runs,
    projection,
  };
};

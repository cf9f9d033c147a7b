// `npm run bench`: the daily steady-state sweep at scale, production against a naive baseline,
// each on an identical freshly seeded organization in a private moto_server (bench/README.md).
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalAws, MANAGEMENT_ACCOUNT } from '../local/local-aws.ts';
import { motoEnvironment, startMoto, type MotoServer } from '../local/moto-server.ts';
import { ALL_REGIONS, random, seedOrg, seedShard, type OrgParams } from './org.ts';
import { counted, exitCode, resultsFile, RunFailed, targetLine } from './check.ts';
import { RESULT_PREFIX, strategyResult, type StrategyInput, type StrategyResult } from './protocol.ts';
import { shardMemoryMb } from './shard-memory.ts';
import { comparisonTable, custodianTargets, figures, ratio, ratiosTo, readCalls, sameVerdicts, underLimits } from './compare.ts';
import { startRateLimitProxy, type RateLimitProxy } from './rate-limit-proxy.ts';
import { measureCliStart } from './cli-start.ts';
import { measureLargestShard } from './largest-shard.ts';

const say = (text = '') => process.stdout.write(`${text}\n`);

const USAGE = `usage: npm run bench -- [--accounts N] [--regions N] [--instances N] [--shard-instances N] [--largest-shard-instances N] [--largest-shard-plan] [--seed N] [--concurrency N] [--no-bundles] [--shard-only] [--largest-shard-only] [--moto-endpoint URL] [--out FILE]
  --accounts N          accounts in the organization, the management account included (default 10; env BENCH_ACCOUNTS)
  --regions N           regions swept in each account, 1–${ALL_REGIONS.length} (default 2; env BENCH_REGIONS)
  --instances N         instances per account-region (default 500; env BENCH_INSTANCES)
  --shard-instances N   instances of the one-shard RSS run, 0 to skip (default 5000; env BENCH_SHARD_INSTANCES)
  --largest-shard-instances N  instances of the one account-region swept by the deployed handlers
                        through the rate-limit proxy, 0 to skip (default 10000; env BENCH_LARGEST_SHARD_INSTANCES)
  --largest-shard-plan  sweep the largest shard in plan mode only (no rollout-day apply)
  --seed N              seed of the verdict mix (default 7; env BENCH_SEED)
  --concurrency N       account-regions swept at once, both strategies (default 8)
  --no-bundles          skip building dist/ and timing cold imports
  --shard-only          only the one-shard RSS run (and the bundles)
  --largest-shard-only  only the largest shard (and the bundles)
  --moto-endpoint URL   use this running moto_server (it is reset) instead of starting one
  --out FILE            where the results go (default bench/results.json)

A strategy run with an error, or that reports another number of instances than were
seeded, fails the bench (exit 1): its figures are not compared with the targets, and the
results file then names the failures instead of holding results.`;

const positiveInt = (name: string, text: string | undefined, fallback: number, min = 1): number => {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number ≥ ${min}, not '${text}'\n${USAGE}`);
  return n;
};

const readParams = () => {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      accounts: { type: 'string' },
      regions: { type: 'string' },
      instances: { type: 'string' },
      'shard-instances': { type: 'string' },
      'largest-shard-instances': { type: 'string' },
      'largest-shard-plan': { type: 'boolean', default: false },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      'no-bundles': { type: 'boolean', default: false },
      'shard-only': { type: 'boolean', default: false },
      'largest-shard-only': { type: 'boolean', default: false },
      'moto-endpoint': { type: 'string' },
      out: { type: 'string', default: 'bench/results.json' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say(USAGE);
    process.exit(0);
  }
  const env = process.env;
  const regionCount = positiveInt('--regions', values.regions ?? env.BENCH_REGIONS, 2);
  if (regionCount > ALL_REGIONS.length) throw new Error(`--regions is at most ${ALL_REGIONS.length}`);
  return {
    accounts: positiveInt('--accounts', values.accounts ?? env.BENCH_ACCOUNTS, 10),
    regions: ALL_REGIONS.slice(0, regionCount),
    instancesPerRegion: positiveInt('--instances', values.instances ?? env.BENCH_INSTANCES, 500),
    shardInstances: positiveInt('--shard-instances', values['shard-instances'] ?? env.BENCH_SHARD_INSTANCES, 5000, 0),
    largestShardInstances: positiveInt('--largest-shard-instances', values['largest-shard-instances'] ?? env.BENCH_LARGEST_SHARD_INSTANCES, 10_000, 0),
    largestShardApply: !values['largest-shard-plan'],
    seed: positiveInt('--seed', values.seed ?? env.BENCH_SEED, 7, 0),
    concurrency: positiveInt('--concurrency', values.concurrency, 8),
    lookbackDays: 14,
    bundles: !values['no-bundles'],
    shardOnly: values['shard-only'],
    largestShardOnly: values['largest-shard-only'],
    motoEndpoint: values['moto-endpoint'],
    out: values.out,
  };
};

const runChild = (args: string[], env: NodeJS.ProcessEnv) =>
  new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout }));
  });

/**
 * The strategies run from one esbuild bundle, as the Lambda functions do: plain Node, no
 * TypeScript loader in the process whose peak RSS is measured.
 */
const bundleStrategy = async (dir: string): Promise<string> => {
  const outfile = join(dir, 'strategy.mjs');
  await build({
    entryPoints: ['bench/strategy.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return outfile;
};

/** A strategy process that exits without its result line is a failed run, not a crash of the bench. */
const runStrategy = async (script: string, input: StrategyInput, env: NodeJS.ProcessEnv = process.env): Promise<StrategyResult> => {
  const { code, stdout } = await runChild([script, JSON.stringify(input)], env);
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (code !== 0 || !line) throw new RunFailed([`${input.mode}: the strategy process exited with code ${code} (its stderr is above)`]);
  return strategyResult.parse(JSON.parse(line.slice(RESULT_PREFIX.length)));
};

const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  process.stdout.write(`${what} … `);
  const seconds = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  try {
    const out = await work();
    say(seconds());
    return out;
  } catch (error) {
    say(`failed after ${seconds()}`);
    throw error;
  }
};

/** A moto_server someone else runs (a test's, or one behind a fault proxy): reset, never stopped. */
const runningMoto = (endpoint: string): MotoServer => ({
  endpoint,
  reset: async () => {
    const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    if (!res.ok) throw new Error(`moto reset failed at ${endpoint}: HTTP ${res.status}`);
  },
  stop: async () => undefined,
});

const freshOrg = async (moto: MotoServer, params: OrgParams) => {
  await moto.reset();
  return seedOrg(params);
};

/** Cold import of each Lambda bundle in dist/, in a fresh Node process: median of three (the CLI: cli-start.ts). */
const bundleImportTimes = async (): Promise<Record<string, { coldImportMs: number | null }>> => {
  const build = await runChild(['--import', 'tsx', 'scripts/build.ts'], process.env);
  if (build.code !== 0) throw new Error(`npm run build failed: ${build.stdout}`);
  const files = (await readdir('dist/handlers')).filter((f) => f.endsWith('.js')).map((f) => `handlers/${f}`).sort();
  const times: Record<string, { coldImportMs: number | null }> = {};
  for (const file of files) {
    const url = pathToFileURL(join('dist', file)).href;
    const code = `const t = performance.now(); await import(${JSON.stringify(url)}); process.stdout.write('\\nCOLD_MS ' + (performance.now() - t));`;
    const samples: number[] = [];
    for (let n = 0; n < 3; n++) {
      const { stdout } = await runChild(['--input-type=module', '-e', code], process.env);
      const ms = Number(/COLD_MS ([\d.]+)/.exec(stdout)?.[1]);
      if (Number.isFinite(ms)) samples.push(ms);
    }
    samples.sort((a, b) => a - b);
    const median = samples[Math.floor(samples.length / 2)];
    // null: the bundle threw on import (a handler that needs its environment, say).
    times[file] = { coldImportMs: median === undefined ? null : Math.round(median) };
  }
  return times;
};

type Params = ReturnType<typeof readParams>;
type Input = (mode: StrategyInput['mode']) => StrategyInput;
const pick = ({ calls, callsByOperation, wallMs, peakRssMb }: StrategyResult) => ({ calls, callsByOperation, wallMs, peakRssMb });
const check = (ok: boolean, text: string) => say(targetLine(ok, text));

/**
 * The daily sweep, production then each baseline, each on a freshly seeded identical
 * organization, each through the rate-limit proxy with every bucket full (bench/compare.ts).
 */
const compareStrategies = async (moto: MotoServer, proxy: RateLimitProxy, script: string, params: Params, orgParams: OrgParams, input: Input) => {
  const env = { ...process.env, ...motoEnvironment(proxy.endpoint) };
  const limited = (what: string, strategy: StrategyInput) => underLimits(proxy, () => timed(what, () => runStrategy(script, strategy, env)));
  const seeded = await timed('seeding the organization (production)', () => freshOrg(moto, orgParams));
  say(`  ${seeded.instances} instances, ${seeded.datapoints} MetadataNoToken datapoints; mix ${JSON.stringify(seeded.byKind)}`);
  const production = counted('production sweep', seeded.instances, await limited('production sweep (plan)', input('production')));
  const apply = counted('production apply', seeded.instances, await limited('production apply (same organization)', input('apply')));

  const same = async (what: string) => {
    const reseeded = await timed(`seeding the same organization again (${what})`, () => freshOrg(moto, orgParams));
    if (JSON.stringify(reseeded.byKind) !== JSON.stringify(seeded.byKind)) throw new Error('the seeded organizations differ');
  };
  await same('naive baseline');
  const baseline = counted('baseline sweep', seeded.instances, await limited('naive baseline sweep', input('baseline')));
  sameVerdicts(production, baseline, 'naive baseline');
  // The Custodian model writes only findings, which it never reads: both batch sizes run on one seeding.
  await same('Custodian model');
  const custodian = counted('Custodian model (batch_size 100)', seeded.instances, await limited('Custodian model sweep, post-finding batch_size 100', { ...input('custodian'), batchSize: 100 }));
  const custodianBatch1 = counted('Custodian model (batch_size 1)', seeded.instances, await limited('Custodian model sweep, post-finding batch_size 1', { ...input('custodian'), batchSize: 1 }));
  sameVerdicts(production, custodian, 'Custodian model (batch_size 100)');
  sameVerdicts(production, custodianBatch1, 'Custodian model (batch_size 1)');
  const ratios = { calls: ratio(baseline.calls, production.calls), wall: ratio(baseline.wallMs, production.wallMs) };

  const total = params.accounts * params.regions.length * params.instancesPerRegion;
  say('');
  say(
    comparisonTable(`daily sweep, ${total} instances, AWS rate limits`, [
      { name: 'production', run: production },
      { name: 'Custodian b100', run: custodian },
      { name: 'Custodian b1', run: custodianBatch1 },
      { name: 'naive baseline', run: baseline },
    ]),
  );
  say(`verdicts (all): ${JSON.stringify(production.byVerdict)}`);
  say(`findings: ${FINDINGS_NOTE}`);
  const applyOps = Object.entries(apply.callsByOperation).map(([op, c]) => `${op} ${c}`).join(', ');
  say(`apply (outside the ratio): ${apply.changed} changed, ${apply.calls} calls (${applyOps}), ${apply.throttled} throttled, ${(apply.wallMs / 1000).toFixed(1)} s, peak RSS ${apply.peakRssMb} MB`);
  for (const line of custodianTargets(production, custodian, params)) say(line);
  check((ratios.calls ?? 0) >= 50, `≥ 50× fewer API calls than the naive baseline (${ratios.calls}×)`);
  check(production.wallMs < baseline.wallMs, `less wall time than the naive baseline (${ratios.wall}×)`);
  return {
    production: { ...pick(production), readCalls: readCalls(production.callsByOperation), throttled: production.throttled },
    baseline: { ...pick(baseline), readCalls: readCalls(baseline.callsByOperation), throttled: baseline.throttled },
    peers: { custodian: { ...figures(custodian), batchSize: 100 }, custodianBatch1: { ...figures(custodianBatch1), batchSize: 1 } },
    ratios: { ...ratios, vsCustodian: ratiosTo(custodian, production), vsCustodianBatch1: ratiosTo(custodianBatch1, production) },
    verdicts: production.byVerdict,
    findings: FINDINGS_NOTE,
    apply: { ...pick(apply), changed: apply.changed, throttled: apply.throttled },
    mix: seeded.byKind,
  };
};

const FINDINGS_NOTE =
  'kept current by every strategy: production ≤ 100 a BatchImportFindings call (unchanged PASSED skipped), the Custodian model batch_size a call (every instance, every run), the naive baseline one call per instance';

const SHARD_REQUEST_TIMEOUT_MS = '300000';

/** One account-region holding many instances: its peak RSS. */
const measureShard = async (moto: MotoServer, script: string, params: Params, input: Input) => {
  const seeded = params.shardInstances;
  await timed(`seeding one account-region with ${seeded} instances`, async () => {
    await moto.reset();
    // One datapoint a series here: moto's GetMetricData scans every stored datapoint per
    // query and period, and memory is held by the instances, not by 1 vs 14 values a series.
    const region = params.regions[0] ?? 'us-east-1';
    await seedShard(new LocalAws(), MANAGEMENT_ACCOUNT, region, seeded, params.lookbackDays, random(params.seed), {}, 1);
  });
  // The target is for the seeded size: a shard that read fewer instances, or erred, measured something else.
  // moto answers DescribeInstances with every instance of an account-region in one page (AWS
  // with at most 1,000): at 5,000 on a loaded machine that one page outlives production's 30 s
  // request timeout. The shard run allows it 300 s, unless the caller set a timeout itself.
  const env = { AWS_REQUEST_TIMEOUT_MS: SHARD_REQUEST_TIMEOUT_MS, ...process.env };
  const shard = counted('one shard', seeded, await timed('one shard (plan)', () => runStrategy(script, input('shard'), env)));
  const metricCalls = shard.callsByOperation.GetMetricData ?? 0;
  say(`one shard of ${seeded} instances: ${shard.calls} calls (${metricCalls} GetMetricData), ${(shard.wallMs / 1000).toFixed(1)} s, peak RSS ${shard.peakRssMb} MB (${shard.startRssMb} MB before the sweep)`);
  // The model sweep-shard's memory is sized from (bench/shard-memory.ts): a shard above it means the deployed memory is too small.
  const expected = Math.round(shardMemoryMb(seeded));
  check(shard.peakRssMb <= expected, `peak RSS of a ${seeded}-instance shard ≤ ${expected} MB, the memory model's (${shard.peakRssMb} MB)`);
  return { instances: shard.instances, ...pick(shard), startRssMb: shard.startRssMb };
};

/** The largest shard (bench/largest-shard.ts): every invocation inside sweep-shard's timeout, under AWS's rate limits. */
const largestShardPhase = async (moto: MotoServer, params: Params) => {
  say('');
  const { largestShardInstances: instances, largestShardApply: apply, seed, lookbackDays } = params;
  const result = await measureLargestShard(moto, { instances, region: params.regions[0] ?? 'us-east-1', seed, lookbackDays, apply }, timed);
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  check(result.maxInvocationMs < result.limitMs, `every invocation of the ${instances}-instance shard inside ${s(result.limitMs)} (longest ${s(result.maxInvocationMs)})`);
  return result;
};

const main = async () => {
  const params = readParams();
  const orgParams: OrgParams = {
    accounts: params.accounts,
    regions: [...params.regions],
    instancesPerRegion: params.instancesPerRegion,
    seed: params.seed,
    lookbackDays: params.lookbackDays,
  };
  const total = params.accounts * params.regions.length * params.instancesPerRegion;
  const only = params.shardOnly || params.largestShardOnly;
  if (!only) {
    say(`imds-remediator benchmark: ${params.accounts} accounts × ${params.regions.length} regions × ${params.instancesPerRegion} instances = ${total} instances, seed ${params.seed}`);
  }

  const workDir = await mkdtemp(join(tmpdir(), 'imds-bench-'));
  const script = await bundleStrategy(workDir);
  const moto = params.motoEndpoint ? runningMoto(params.motoEndpoint) : await startMoto();
  // The strategies compared reach moto through AWS's rate limits; seeding and resets go straight to moto.
  const proxy = await startRateLimitProxy(moto.endpoint);
  const stop = () => void moto.stop().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  Object.assign(process.env, motoEnvironment(moto.endpoint));
  const input: Input = (mode) => ({
    mode,
    regions: [...params.regions],
    lookbackDays: params.lookbackDays,
    concurrency: params.concurrency,
    now: new Date().toISOString(),
  });
  // A phase whose run failed is reported and left out; the next phase still runs.
  const failures: string[] = [];
  const phase = async <T>(work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof RunFailed)) throw error;
      for (const problem of error.problems) say(`FAILED  ${problem}`);
      failures.push(...error.problems);
      return undefined;
    }
  };
  try {
    const compared = only ? undefined : await phase(() => compareStrategies(moto, proxy, script, params, orgParams, input));
    say('');
    const shard = params.shardInstances > 0 && !params.largestShardOnly ? ((await phase(() => measureShard(moto, script, params, input))) ?? null) : null;
    const largestShard = params.largestShardInstances > 0 && !params.shardOnly ? ((await phase(() => largestShardPhase(moto, params))) ?? null) : null;
    const bundles = params.bundles ? await timed('building dist/ and timing cold imports', bundleImportTimes) : {};
    for (const [file, { coldImportMs }] of Object.entries(bundles)) {
      say(`cold import dist/${file}: ${coldImportMs === null ? 'failed (see stderr above)' : `${coldImportMs} ms`}`);
    }
    const cli = params.bundles ? await timed('timing the CLI start, from its sources (tsx) and from its bundle', () => measureCliStart()) : null;
    if (cli) {
      const faster = (ms: { sources: number; bundle: number }) => `${ms.sources} ms from the sources, ${ms.bundle} ms from the bundle (${ratio(ms.sources, ms.bundle)}×)`;
      say(`imds-remediator --help: ${faster(cli.helpMs)}; plan, to its first AWS call: ${faster(cli.firstCallMs)}; medians of ${cli.runs}`);
    }
    const { mix, ...rest } = compared ?? { mix: undefined };
    const runParams = { ...orgParams, instances: total, shardInstances: params.shardInstances, largestShardInstances: params.largestShardInstances, concurrency: params.concurrency, mix };
    await writeFile(params.out, `${JSON.stringify(resultsFile(runParams, { ...rest, shard, largestShard, bundles, cli }, failures), null, 2)}
`);
    if (failures.length > 0) {
      say(`\nthe bench FAILED: ${failures.length} run problem${failures.length === 1 ? '' : 's'}; written: ${params.out} (the failures, no results)`);
    } else {
      say(`\nwritten: ${params.out}`);
    }
    process.exitCode = exitCode(failures);
  } finally {
    await proxy.close();
    await moto.stop();
    await rm(workDir, { recursive: true, force: true });
  }
};

await main();

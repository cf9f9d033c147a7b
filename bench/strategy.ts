// One benchmark strategy in its own process, so that its peak RSS is its own.
// Prints one line `BENCH_RESULT {json}` on stdout; the parent (bench/run.ts) reads it.
import { JsonLinesLog } from '../functions/adapters/json-lines-log.ts';
import { composeWorld } from '../functions/app/compose.ts';
import { readEnvironment } from '../functions/app/config.ts';
import type { InstanceResult } from '../functions/domain/model.ts';
import type { Verdict } from '../functions/domain/verdicts.ts';
import { sweepShard } from '../functions/sweep/shard.ts';
import { INVOCATION_MARGIN_MS } from '../functions/sweep/pieces.ts';
import { runSweep } from '../functions/sweep/run.ts';
import { MANAGEMENT_ACCOUNT } from '../local/local-aws.ts';
import { runBaseline } from './baseline.ts';
import { runCustodian } from './custodian.ts';
import { countCalls, sortedCounts } from './count-calls.ts';
import { benchPolicy } from './policy.ts';
import { RESULT_PREFIX, strategyInput, type StrategyResult } from './protocol.ts';

const ERROR_MESSAGES_MAX = 3;

/** The reasons of instances whose verdict is `error`, each with its instance. */
const instanceErrors = (instances: InstanceResult[]): string[] =>
  instances.filter((i) => i.verdict === 'error').map((i) => `${i.accountId} ${i.region} ${i.instanceId}: ${i.reason}`);

const main = async () => {
  const input = strategyInput.parse(JSON.parse(process.argv[2] ?? '{}'));
  const env = readEnvironment();
  const policy = benchPolicy(input.regions, input.lookbackDays);
  const counter = countCalls();
  const log = new JsonLinesLog(() => undefined, 'SILENT');
  const now = new Date(input.now);
  const world = () => composeWorld({ policy, env, customizeClient: counter.customizeClient });

  // What the process holds before the sweep (Node, the bundle, the SDK clients' code).
  const startRssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
  const started = performance.now();
  let outcome: Pick<StrategyResult, 'byVerdict' | 'changed' | 'errors' | 'errorMessages' | 'instances'>;
  switch (input.mode) {
    case 'production':
    case 'apply': {
      // Findings are kept current too: BatchImportFindings (≤ 100 each) and GetFindings are counted.
      const report = await runSweep(world(), policy, { apply: input.mode === 'apply', log, now: () => now, concurrency: input.concurrency });
      // summary.errors counts whole account-regions and instances whose verdict is `error`.
      const errorMessages = [...report.errors.map((e) => e.message), ...instanceErrors(report.instances)].slice(0, ERROR_MESSAGES_MAX);
      outcome = { byVerdict: report.summary.byVerdict, changed: report.summary.changed, errors: report.summary.errors, errorMessages, instances: report.instances.length };
      break;
    }
    case 'shard': {
      const shard = { accountId: MANAGEMENT_ACCOUNT, region: input.regions[0] ?? env.homeRegion };
      // As the deployed sweep-shard runs it: findings recorded, in pieces against a fresh 15-minute invocation.
      const endBy = Date.now() + 15 * 60_000 - INVOCATION_MARGIN_MS;
      const findings = { partition: (await world().organization.caller()).partition };
      const result = await sweepShard(world().shard(shard), shard, policy, { apply: false, now, log, findings, endBy });
      const byVerdict: Partial<Record<Verdict, number>> = {};
      for (const i of result.instances) byVerdict[i.verdict] = (byVerdict[i.verdict] ?? 0) + 1;
      const failed = instanceErrors(result.instances);
      const errorMessages = [...result.errors.map((e) => e.message), ...failed].slice(0, ERROR_MESSAGES_MAX);
      outcome = { byVerdict, changed: 0, errors: result.errors.length + failed.length, errorMessages, instances: result.instances.length };
      break;
    }
    case 'baseline': {
      const { byVerdict } = await runBaseline(policy, {
        homeRegion: env.homeRegion,
        concurrency: input.concurrency,
        customizeClient: counter.customizeClient,
        now,
      });
      const instances = Object.values(byVerdict).reduce((a, b) => a + b, 0);
      // The baseline stops at its first failed call (the process exits non-zero); an `error` verdict is counted here.
      outcome = { byVerdict, changed: 0, errors: byVerdict.error ?? 0, errorMessages: [], instances };
      break;
    }
    case 'custodian': {
      const options = { homeRegion: env.homeRegion, concurrency: input.concurrency, batchSize: input.batchSize, customizeClient: counter.customizeClient, now };
      const { byVerdict, errors, errorMessages } = await runCustodian(policy, options);
      const instances = Object.values(byVerdict).reduce((a, b) => a + b, 0);
      // Account-regions that failed, plus instances whose verdict is `error`.
      outcome = { byVerdict, changed: 0, errors: errors + (byVerdict.error ?? 0), errorMessages: errorMessages.slice(0, ERROR_MESSAGES_MAX), instances };
      break;
    }
  }
  const wallMs = Math.round(performance.now() - started);
  const result: StrategyResult = {
    calls: counter.total(),
    callsByOperation: sortedCounts(counter.byOperation),
    wallMs,
    // maxRSS is in KiB: the high-water mark of this whole process (Node, tsx, SDK and the sweep).
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    startRssMb,
    ...outcome,
  };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
};

await main();

// One execution of the deployed sweep, in a process of its own (a fresh Lambda container): the
// sweep-plan, sweep-shard and sweep-report handlers chained as the state machine chains them
// (test/support/distributed-map.ts runs the Map's child workflow as infra/central/sweep.yml
// writes it), with each sweep-shard invocation given Lambda's remaining time and timed.
// bench/largest-shard.ts starts it with the deployment's environment; the endpoint is the
// rate-limit proxy's.
import { handler as plan } from '../functions/handlers/sweep-plan.ts';
import { handler as shard } from '../functions/handlers/sweep-shard.ts';
import { handler as report } from '../functions/handlers/sweep-report.ts';
import type { ShardDigest } from '../functions/report/digest.ts';
import { runDistributedMap } from '../test/support/distributed-map.ts';
import { LARGEST_SHARD_PREFIX, largestShardInput, type ExecutionResult, type InvocationTiming } from './largest-shard-protocol.ts';

const instancesIn = (digest: Partial<ShardDigest> | undefined) => Object.values(digest?.byVerdict ?? {}).reduce((a, b) => a + (b ?? 0), 0);

const main = async () => {
  const input = largestShardInput.parse(JSON.parse(process.argv[2] ?? '{}'));
  const started = performance.now();
  const planned = JSON.parse(JSON.stringify(await plan({ source: 'schedule' }))) as { apply: boolean; plan: unknown; shardsKey: string };
  const invocations: InvocationTiming[] = [];
  const results = await runDistributedMap({
    bucket: input.bucket,
    state: planned,
    runItem: async (item) => {
      // Lambda's clock for this invocation: its whole timeout, counting down from the call.
      const begun = Date.now();
      const context = { getRemainingTimeInMillis: () => input.timeoutMs - (Date.now() - begun) };
      const t = performance.now();
      const out = (await shard(item, context)) as ShardDigest & { done: boolean };
      const ms = Math.round(performance.now() - t);
      const sofar = (item as { sofar?: ShardDigest }).sofar;
      invocations.push({ ms, reported: instancesIn(out) - instancesIn(sofar), changed: out.changed - (sofar?.changed ?? 0), done: out.done });
      return out;
    },
  });
  const swept = await report({ apply: planned.apply, plan: planned.plan, results });
  const result: ExecutionResult = {
    invocations,
    summary: swept.summary,
    errors: swept.errors.map((e) => e.message),
    wallMs: Math.round(performance.now() - started),
  };
  process.stdout.write(`${LARGEST_SHARD_PREFIX}${JSON.stringify(result)}\n`);
};

await main();

// The daily-sweep comparison's arithmetic and presentation, kept out of bench/run.ts: read
// calls, throttled calls, ratios against each peer, the table of every strategy, the targets.
import { RunFailed, targetLine } from './check.ts';
import type { StrategyResult } from './protocol.ts';
import type { RateLimitProxy } from './rate-limit-proxy.ts';

/**
 * A read call is one whose operation name begins with Describe, Get or List: here
 * DescribeInstances, DescribeRegions, DescribeTags, GetMetricData, GetMetricStatistics,
 * GetFindings, GetCallerIdentity, ListAccounts (and any other such). AssumeRole,
 * BatchImportFindings, ModifyInstanceMetadataOptions and CreateTags are not reads.
 */
export const isRead = (operation: string): boolean => /^(Describe|Get|List)/.test(operation);

export const readCalls = (callsByOperation: Record<string, number>): number =>
  Object.entries(callsByOperation).reduce((sum, [op, n]) => sum + (isRead(op) ? n : 0), 0);

/** A strategy's result with the calls the rate-limit proxy throttled while it ran. */
export type Measured = StrategyResult & { throttled: number; throttledByOperation: Record<string, number> };

/**
 * Runs one strategy under AWS's rate limits as if it ran alone: every bucket full and the
 * counts zeroed before, its throttled answers (every attempt the proxy refused) after.
 */
export const underLimits = async (proxy: RateLimitProxy, run: () => Promise<StrategyResult>): Promise<Measured> => {
  proxy.resetBuckets();
  proxy.resetCounts();
  const result = await run();
  const unknown = proxy.unknownAccountCalls();
  if (unknown > 0) throw new RunFailed([`${unknown} calls reached the rate-limit proxy with credentials of an unknown account: their buckets were not AWS's`]);
  const throttledByOperation = proxy.throttled();
  const throttled = Object.values(throttledByOperation).reduce((a, b) => a + b, 0);
  return { ...result, throttled, throttledByOperation };
};

/** A run fails the bench when its verdict counts differ from production's: it did other work. */
export const sameVerdicts = (production: StrategyResult, other: StrategyResult, name: string): void => {
  const counts = (r: StrategyResult) => JSON.stringify(Object.entries(r.byVerdict).filter(([, c]) => (c ?? 0) > 0).sort());
  if (counts(production) !== counts(other)) {
    throw new RunFailed([`the strategies disagree: production ${JSON.stringify(production.byVerdict)}, ${name} ${JSON.stringify(other.byVerdict)}`]);
  }
};

export const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 10) / 10 : null);

export const table = (rows: string[][]): string => {
  const widths = rows[0]?.map((_, n) => Math.max(...rows.map((r) => (r[n] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, n) => (n === 0 ? c.padEnd(widths[n] ?? 0) : c.padStart(widths[n] ?? 0))).join('   ')).join('\n');
};

/** What results.json keeps of a strategy run. */
export const figures = (r: Measured) => ({
  calls: r.calls,
  readCalls: readCalls(r.callsByOperation),
  callsByOperation: r.callsByOperation,
  wallMs: r.wallMs,
  throttled: r.throttled,
  peakRssMb: r.peakRssMb,
});

/** How many times the peer's calls, read calls and wall time production's are. */
export const ratiosTo = (peer: Measured, production: Measured) => ({
  calls: ratio(peer.calls, production.calls),
  readCalls: ratio(readCalls(peer.callsByOperation), readCalls(production.callsByOperation)),
  wall: ratio(peer.wallMs, production.wallMs),
});

const count = (x: number | undefined) => String(x ?? 0);
const times = (x: number | null) => (x === null ? '–' : `${x}×`);

/** One table of every strategy (production first), with each one's ratios to production at the bottom. */
export const comparisonTable = (title: string, runs: Array<{ name: string; run: Measured }>): string => {
  const production = runs[0]?.run;
  if (!production) return '';
  const ops = [...new Set(runs.flatMap(({ run }) => Object.keys(run.callsByOperation)))].sort();
  const each = (cell: (r: Measured) => string) => runs.map(({ run }) => cell(run));
  const ratios = runs.map(({ run }, n) => (n === 0 ? undefined : ratiosTo(run, production)));
  const ratioRow = (label: string, pick: (r: ReturnType<typeof ratiosTo>) => number | null) => [label, ...ratios.map((r) => (r ? times(pick(r)) : ''))];
  return table([
    [title, ...runs.map(({ name }) => name)],
    ['API calls', ...each((r) => count(r.calls))],
    ['  read calls', ...each((r) => count(readCalls(r.callsByOperation)))],
    ...ops.map((op) => [`  ${op}${isRead(op) ? ' (read)' : ''}`, ...each((r) => count(r.callsByOperation[op]))]),
    ['throttled answers', ...each((r) => count(r.throttled))],
    ['wall time (s)', ...each((r) => (r.wallMs / 1000).toFixed(1))],
    ['peak RSS (MB)', ...each((r) => count(r.peakRssMb))],
    ['  RSS before the sweep', ...each((r) => count(r.startRssMb))],
    ratioRow('÷ production: API calls', (r) => r.calls),
    ratioRow('÷ production: read calls', (r) => r.readCalls),
    ratioRow('÷ production: wall time', (r) => r.wall),
  ]);
};

/** The size the Custodian targets are set for (bench/README.md). */
export const DEFAULT_SIZE = { accounts: 10, regions: 2, instancesPerRegion: 500 } as const;

/** Target lines against the Custodian model at its best batch size (100). */
export const custodianTargets = (
  production: Measured,
  custodian: Measured,
  size: { accounts: number; regions: readonly string[]; instancesPerRegion: number },
): string[] => {
  const r = ratiosTo(custodian, production);
  const atDefault = size.accounts === DEFAULT_SIZE.accounts && size.regions.length === DEFAULT_SIZE.regions && size.instancesPerRegion === DEFAULT_SIZE.instancesPerRegion;
  const note = atDefault ? '' : ` (the target is set for the default size, ${DEFAULT_SIZE.accounts} × ${DEFAULT_SIZE.regions} × ${DEFAULT_SIZE.instancesPerRegion})`;
  return [
    targetLine((r.readCalls ?? 0) >= 10, `≥ 10× fewer read calls than the Custodian model, batch_size 100 (${times(r.readCalls)})${note}`),
    targetLine(production.wallMs < custodian.wallMs, `less wall time than the Custodian model, batch_size 100, under AWS's rate limits (${times(r.wall)})${note}`),
  ];
};

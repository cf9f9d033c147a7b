// The benchmark end to end, as `npm run bench` runs it, against the shared moto_server
// behind the fault proxy: a strategy run that errors fails the bench.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { endpoint, useMoto } from '../support/moto.ts';

useMoto();

let proxy: FaultProxy;
let dir: string;
beforeAll(async () => {
  proxy = await startFaultProxy(endpoint());
  dir = await mkdtemp(join(tmpdir(), 'imds-bench-test-'));
});
afterAll(async () => {
  await proxy.close();
  await rm(dir, { recursive: true, force: true });
});

const runBench = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    // The strategy's stderr (its failed calls) is not what this test reads.
    child.stderr.resume();
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout }));
  });

it('a production sweep with errors fails the bench: exit 1, no target met, no figures written', async () => {
  // Every GetMetricData is refused: the sweep reports each instance that needs evidence as an error.
  proxy.inject({ operation: 'GetMetricData', fault: { code: 'AccessDenied', status: 403 } });
  const out = join(dir, 'results.json');

  const { code, stdout } = await runBench([
    ...['--moto-endpoint', proxy.endpoint, '--out', out],
    ...['--accounts', '1', '--regions', '1', '--instances', '20', '--shard-instances', '0', '--largest-shard-instances', '0', '--no-bundles'],
  ]);

  expect(code, stdout).toBe(1);
  expect(stdout).toMatch(/^FAILED {2}production sweep: \d+ errors \(first: cannot read MetadataNoToken: AccessDenied/m);
  expect(stdout).not.toMatch(/^met /m);
  const written = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
  expect(Object.keys(written).sort()).toEqual(['failures', 'params']);
  expect(written.failures).toEqual([expect.stringMatching(/^production sweep: \d+ errors/)]);
}, 600_000);

it('writes the Custodian model at batch_size 100 and 1 beside production, with read calls, throttled calls and ratios', async () => {
  const out = join(dir, 'peers.json');

  const { code, stdout } = await runBench([
    ...['--moto-endpoint', endpoint(), '--out', out],
    ...['--accounts', '1', '--regions', '1', '--instances', '30', '--shard-instances', '0', '--largest-shard-instances', '0', '--no-bundles'],
  ]);

  expect(code, stdout).toBe(0);
  expect(stdout).toMatch(/^ {2}read calls +\d+ +\d+ +\d+ +\d+$/m);
  type Figures = { calls: number; readCalls: number; callsByOperation: Record<string, number>; wallMs: number; throttled: number; batchSize?: number };
  const written = JSON.parse(await readFile(out, 'utf8')) as {
    production: Figures;
    peers: { custodian: Figures; custodianBatch1: Figures };
    ratios: { calls: number; wall: number; vsCustodian: Record<string, number>; vsCustodianBatch1: Record<string, number> };
  };
  const { custodian, custodianBatch1 } = written.peers;
  expect(custodian).toMatchObject({ batchSize: 100, throttled: expect.any(Number), wallMs: expect.any(Number) });
  expect(custodian.callsByOperation.BatchImportFindings).toBe(1);
  expect(custodianBatch1.callsByOperation.BatchImportFindings).toBe(30);
  // Reads are Describe*, Get* and List*: the listing page, DescribeTags if the tags check fired, the GetMetricStatistics.
  const { DescribeInstances = 0, DescribeTags = 0, GetMetricStatistics = 0 } = custodian.callsByOperation;
  expect(custodian.readCalls).toBe(DescribeInstances + DescribeTags + GetMetricStatistics);
  expect(Object.keys(written.ratios.vsCustodian).sort()).toEqual(['calls', 'readCalls', 'wall']);
  expect(written.ratios.vsCustodian.readCalls).toBe(Math.round((custodian.readCalls / written.production.readCalls) * 10) / 10);
}, 900_000);

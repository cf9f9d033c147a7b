// The command's cold start, two ways: from its TypeScript sources through tsx (what bin falls
// back to, and how every start ran before the bundle) and from the bundle in dist/cli/ (what
// bin starts after `npm ci`). Two figures each, medians of a few fresh processes: the wall time
// of `--help`, and the time from spawning `plan` to its first request reaching a local HTTP
// endpoint (AWS_ENDPOINT_URL), which records the arrival and ends the process there.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bundleState, CLI_DIR, CLI_ENTRY } from '../scripts/cli-bundle.mjs';

/**
 * How each start is launched: node's arguments before the command's own. The bundle starts
 * as users start it, through bin (which first checks that the bundle is the sources').
 */
const STARTS = {
  sources: ['--import', 'tsx', 'functions/app/cli-entry.ts'],
  bundle: ['bin/imds-remediator.js'],
} as const;
type Start = keyof typeof STARTS;

export interface CliStart {
  helpMs: Record<Start, number>;
  firstCallMs: Record<Start, number>;
  /** The bundle's JavaScript (chunks included), and what `--help` loads of it. */
  bundleKiB: { all: number; help: number };
  runs: number;
}

const median = (samples: number[]): number => {
  const sorted = [...samples].sort((a, b) => a - b);
  return Math.round(sorted[Math.floor(sorted.length / 2)] ?? NaN);
};

/** Wall time of one `--help`, spawn to exit; it must print the usage. */
const helpOnce = (start: Start) =>
  new Promise<number>((resolve, reject) => {
    const began = performance.now();
    const child = spawn(process.execPath, [...STARTS[start], '--help'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - began;
      if (code !== 0 || !stdout.startsWith('usage: imds-remediator')) reject(new Error(`${start} --help exited ${code} without its usage`));
      else resolve(ms);
    });
  });

/** An endpoint that answers nothing: it only notes when the first request arrives. */
const listen = async (): Promise<{ server: Server; endpoint: string; nextRequest: () => Promise<number> }> => {
  let waiting: ((at: number) => void) | undefined;
  const server = createServer((request) => {
    const at = performance.now();
    request.socket.destroy();
    waiting?.(at);
    waiting = undefined;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://127.0.0.1:${port}`, nextRequest: () => new Promise((resolve) => (waiting = resolve)) };
};

/** Spawn to the first request of `plan`, in an environment that holds only test credentials. */
const firstCallOnce = async (start: Start, policy: string, endpoint: string, nextRequest: () => Promise<number>, home: string) => {
  const arrived = nextRequest();
  const began = performance.now();
  const child = spawn(process.execPath, [...STARTS[start], 'plan', '--policy', policy, '--json'], {
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH,
      HOME: home,
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  });
  const exited = new Promise<number>((resolve) => child.once('exit', () => resolve(-1)));
  const at = await Promise.race([arrived, exited]);
  child.kill();
  if (at < 0) throw new Error(`${start} plan exited before its first request`);
  return at - began;
};

const javaScriptKiB = async (files: string[]) => {
  const sizes = await Promise.all(files.map((file) => stat(file).then((s) => s.size)));
  return Math.round(sizes.reduce((a, b) => a + b, 0) / 1024);
};

/** A bundle file and every file it imports statically (what loads before its first line runs). */
const staticImports = async (file: string, seen = new Set<string>()): Promise<string[]> => {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = await readFile(file, 'utf8');
  for (const [, path] of text.matchAll(/(?:from|import)\s*"(\.{1,2}\/[^"]+)"/g)) {
    if (path) await staticImports(join(dirname(file), path), seen);
  }
  return [...seen];
};

/**
 * Times both starts, `runs` times each (after one start of each that is not counted: tsx's
 * cache and the file system's are warm, as on a developer's second run), alternating.
 */
export const measureCliStart = async (runs = 5): Promise<CliStart> => {
  const state = bundleState();
  if (!state.fresh) throw new Error(`cannot time the bundle: ${state.why} (npm run build)`);
  const home = await mkdtemp(join(tmpdir(), 'imds-cli-start-'));
  const policy = join(home, 'policy.yaml');
  await writeFile(policy, 'mode: report\nscope: { regions: [us-east-1] }\n');
  const { server, endpoint, nextRequest } = await listen();
  try {
    const help: Record<Start, number[]> = { sources: [], bundle: [] };
    const firstCall: Record<Start, number[]> = { sources: [], bundle: [] };
    for (let n = 0; n <= runs; n++) {
      for (const start of ['sources', 'bundle'] as const) {
        const helpMs = await helpOnce(start);
        const firstCallMs = await firstCallOnce(start, policy, endpoint, nextRequest, home);
        if (n === 0) continue;
        help[start].push(helpMs);
        firstCall[start].push(firstCallMs);
      }
    }
    const all = (await readdir(CLI_DIR, { recursive: true })).filter((f) => f.endsWith('.js')).map((f) => join(CLI_DIR, f));
    return {
      helpMs: { sources: median(help.sources), bundle: median(help.bundle) },
      firstCallMs: { sources: median(firstCall.sources), bundle: median(firstCall.bundle) },
      bundleKiB: { all: await javaScriptKiB(all), help: await javaScriptKiB(await staticImports(CLI_ENTRY)) },
      runs,
    };
  } finally {
    server.close();
    await rm(home, { recursive: true, force: true });
  }
};

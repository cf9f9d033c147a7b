// The CLI's bundle in dist/cli/: how it is built, and whether it was built from the sources as
// they are now. bin/imds-remediator.js starts the bundle only when it was (a bundle of older
// sources is never run), and `npm ci` builds it (`prepare`). Plain JavaScript with only Node's
// own modules at the top, so that the command's start does not wait for a TypeScript loader.
// Run as a script (`node scripts/cli-bundle.mjs`), it builds the bundle.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI_DIR = join(ROOT, 'dist', 'cli');
export const CLI_ENTRY = join(CLI_DIR, 'imds-remediator.js');
/** What the bundle was built from: each project file esbuild read, with its SHA-256. */
const RECORD = join(CLI_DIR, 'built-from.json');
/** Besides the sources esbuild reads, the files that decide what it makes of them. */
const BUILD_INPUTS = ['package-lock.json', 'tsconfig.json', 'scripts/cli-bundle.mjs'];

const sha256 = (file) => createHash('sha256').update(readFileSync(join(ROOT, file))).digest('hex');

/**
 * Whether dist/cli/ holds a bundle of the sources as they are now: `{ fresh: true }`, or
 * `{ fresh: false, why }` naming what is missing or what changed since the build.
 */
export const bundleState = () => {
  let files;
  try {
    files = JSON.parse(readFileSync(RECORD, 'utf8')).files;
  } catch {
    return { fresh: false, why: 'the CLI bundle (dist/cli/) is not built' };
  }
  for (const [file, hash] of Object.entries(files ?? {})) {
    let now;
    try {
      now = sha256(file);
    } catch {
      return { fresh: false, why: `${file}, bundled in dist/cli/, is gone` };
    }
    if (now !== hash) return { fresh: false, why: `${file} changed since the CLI bundle (dist/cli/) was built` };
  }
  return { fresh: true };
};

/**
 * Builds dist/cli/ with esbuild and records what it was built from; returns the size of its
 * JavaScript. `--help` loads only the entry's small chunk; a command loads the rest
 * (code splitting). Minified; the source maps carry no sources (they are in the repository):
 * `NODE_OPTIONS=--enable-source-maps` maps a stack trace to functions/.
 */
export const buildCliBundle = async () => {
  const { build } = await import('esbuild');
  // The record goes first and comes back last: a start during the build runs the sources.
  rmSync(CLI_DIR, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [{ in: 'functions/app/cli-entry.ts', out: 'imds-remediator' }],
    outdir: CLI_DIR,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    metafile: true,
    // ESM output still meets CommonJS inside the SDK's dependencies.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const sources = Object.keys(result.metafile.inputs).filter((file) => !file.startsWith('node_modules/'));
  const files = Object.fromEntries([...sources, ...BUILD_INPUTS].sort().map((file) => [file, sha256(file)]));
  writeFileSync(RECORD, `${JSON.stringify({ files }, null, 2)}\n`);
  const bytes = Object.entries(result.metafile.outputs).reduce((sum, [file, out]) => sum + (file.endsWith('.js') ? out.bytes : 0), 0);
  return { bytes };
};

// `prepare` (npm ci) and `npm run build`. Without esbuild (an install without devDependencies)
// there is no bundle, and the command runs its sources, saying so.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  try {
    const { bytes } = await buildCliBundle();
    process.stdout.write(`dist/cli/  ${(bytes / 1024).toFixed(0)} KiB (the imds-remediator command)\n`);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    process.stderr.write('imds-remediator: esbuild is not installed, so the CLI is not bundled; it runs from its TypeScript sources\n');
  }
}

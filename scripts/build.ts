// `npm run build`: the CLI's bundle (dist/cli/, scripts/cli-bundle.mjs) and one self-contained
// bundle per Lambda handler (dist/handlers/), with esbuild.
import { readdir } from 'node:fs/promises';
import { build } from 'esbuild';
import { buildCliBundle } from './cli-bundle.mjs';

const cli = await buildCliBundle();
process.stdout.write(`dist/cli/  ${(cli.bytes / 1024).toFixed(0)} KiB\n`);

const handlers = (await readdir('functions/handlers').catch(() => [] as string[]))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => `functions/handlers/${f}`);

const result = await build({
  entryPoints: handlers,
  outdir: 'dist',
  outbase: 'functions',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: true,
  sourcemap: true,
  metafile: true,
  // ESM output still meets CommonJS inside the SDK's dependencies.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
});

for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  if (file.endsWith('.js')) process.stdout.write(`${file}  ${(bytes / 1024).toFixed(0)} KiB\n`);
}

#!/usr/bin/env node
// Starts the command from its bundle (dist/cli/, built by `npm ci` and `npm run build`) when the
// bundle was built from the sources as they are now. Otherwise (no bundle, or sources edited
// since) it runs the TypeScript sources with tsx and says so on stderr: an old bundle never runs.
import module from 'node:module';
import { pathToFileURL } from 'node:url';
import { bundleState, CLI_ENTRY } from '../scripts/cli-bundle.mjs';

// Node 22.1 and later keep compiled code between starts; Node 20 has no such cache.
module.enableCompileCache?.();

const state = bundleState();
if (state.fresh) {
  await import(pathToFileURL(CLI_ENTRY).href);
} else {
  process.stderr.write(`imds-remediator: ${state.why}: running the TypeScript sources (a slower start); \`npm run build\` rebuilds it\n`);
  const { register } = await import('tsx/esm/api');
  register();
  await import('../functions/app/cli-entry.ts');
}

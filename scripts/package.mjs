// `npm run package`: osls package, offline and without credentials, then each function's zip size.
// The org id is an example: packaging checks the template; deploying takes the real one.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// serverless-esbuild leaves its work directories in TMPDIR: keep them in a git-ignored one.
const tmp = join(process.cwd(), '.tmp');
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
const args = ['package', '--stage', 'dev', '--region', 'us-east-1', '--param=orgId=o-exampleorg1', ...process.argv.slice(2)];
const run = spawnSync(join('node_modules', '.bin', 'osls'), args, {
  stdio: 'inherit',
  env: {
    PATH: process.env.PATH,
    // An empty home: no AWS profile, no osls dashboard state, nothing from this machine.
    HOME: mkdtempSync(join(tmpdir(), 'osls-home-')),
    TMPDIR: tmp,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  },
});
if (run.status !== 0) process.exit(run.status ?? 1);

for (const file of readdirSync('.serverless').filter((f) => f.endsWith('.zip')).sort()) {
  const bytes = statSync(join('.serverless', file)).size;
  process.stdout.write(`${file.padEnd(28)} ${(bytes / 1024).toFixed(0).padStart(6)} KiB zipped\n`);
}

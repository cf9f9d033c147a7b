// bin/imds-remediator.js starts the bundle in dist/cli/ only when it was built from the sources
// as they are; otherwise it runs the sources and says so. Each case runs bin in a copy of the
// project (its own dist/ and functions/, the real node_modules), so that editing a source
// there leaves the repository alone.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { bundleState } from '../../scripts/cli-bundle.mjs';

const copies: string[] = [];
afterEach(async () => {
  await Promise.all(copies.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A copy of what bin needs, with the bundle the test setup built (global-setup.ts). */
const projectCopy = async (options: { bundle: boolean }) => {
  expect(bundleState()).toEqual({ fresh: true });
  const dir = await mkdtemp(join(tmpdir(), 'imds-cli-bundle-'));
  copies.push(dir);
  for (const path of ['bin', 'scripts', 'functions', 'package.json', 'package-lock.json', 'tsconfig.json']) {
    await cp(path, join(dir, path), { recursive: true });
  }
  if (options.bundle) await cp('dist/cli', join(dir, 'dist', 'cli'), { recursive: true });
  await symlink(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'));
  return dir;
};

const help = (dir: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [join(dir, 'bin', 'imds-remediator.js'), '--help'], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

/** Edits the usage text in the copy's sources: only a start from the sources prints the edit. */
const editUsage = async (dir: string) => {
  const file = join(dir, 'functions', 'app', 'usage.ts');
  await writeFile(file, (await readFile(file, 'utf8')).replace('usage: imds-remediator', 'usage (edited): imds-remediator'));
};

it('starts the bundle when it was built from the sources as they are, saying nothing on stderr', async () => {
  const dir = await projectCopy({ bundle: true });

  const { code, stdout, stderr } = await help(dir);

  expect(code).toBe(0);
  expect(stdout).toMatch(/^usage: imds-remediator <plan\|apply>/);
  expect(stderr).toBe('');
});

it('never runs a bundle older than the sources: it runs the sources and names the file that changed', async () => {
  const dir = await projectCopy({ bundle: true });
  await editUsage(dir);

  const { code, stdout, stderr } = await help(dir);

  expect(code).toBe(0);
  expect(stdout).toMatch(/^usage \(edited\): imds-remediator/);
  expect(stderr).toMatch(/functions\/app\/usage\.ts changed since the CLI bundle \(dist\/cli\/\) was built: running the TypeScript sources/);
});

it('runs the sources without a bundle, saying so and how to build one', async () => {
  const dir = await projectCopy({ bundle: false });
  await editUsage(dir);

  const { code, stdout, stderr } = await help(dir);

  expect(code).toBe(0);
  expect(stdout).toMatch(/^usage \(edited\): imds-remediator/);
  expect(stderr).toMatch(/the CLI bundle \(dist\/cli\/\) is not built: running the TypeScript sources .*npm run build/);
});

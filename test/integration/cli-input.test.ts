// The command's edge: what it refuses before any AWS call (exit 2), and a log file that
// fails while a run is under way.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { motoEnvironment } from '../../local/moto-server.ts';
import { startSlackReceiver } from '../../local/slack-receiver.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { endpoint, useMoto } from '../support/moto.ts';
import { seedOrganization, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();

// Every AWS call goes through this proxy, which forwards it to moto and records it.
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(endpoint());
});
afterAll(() => proxy.close());
beforeEach(() => proxy.clear());

// root may write anywhere, so "permission denied" is tried as the unprivileged user.
const NOBODY = { uid: 65534, gid: 65534 };
const asUnprivileged = process.getuid?.() === 0 ? NOBODY : {};

/** The installed command in a child process, its AWS endpoint the recording proxy. */
const cli = (args: string[], options: { env?: Record<string, string>; user?: { uid?: number; gid?: number } } = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['bin/imds-remediator.js', ...args],
      { env: { ...process.env, ...motoEnvironment(endpoint()), AWS_ENDPOINT_URL: proxy.endpoint, ...options.env }, ...options.user },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

/** A directory anyone may read (the unprivileged child must read the policy in it). */
const openDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'imds-cli-'));
  await chmod(dir, 0o755);
  return dir;
};

const textFile = async (dir: string, name: string, text: string) => {
  const path = join(dir, name);
  await writeFile(path, text, { mode: 0o644 });
  return path;
};

describe('bad input is exit 2, before any AWS call', () => {
  it.each([
    ['an empty policy', '', /invalid policy: .*: the policy is empty; write at least `mode: report`/],
    ['a misspelt region', stringify(testPolicy({ scope: { regions: ['eu-wset-1'] } })), /invalid policy: scope.regions\[0\]: unknown region 'eu-wset-1'/],
    ['a duplicate key', 'mode: enforce\nmode: report\n', /invalid policy: .*: not valid YAML or JSON: mode: duplicate key/],
    [
      'an alias bomb',
      'mode: report\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
      /invalid policy: .*: c\[\d\]: too many aliases/,
    ],
  ])('refuses %s, naming what is wrong', async (_, text, expected) => {
    const policy = await textFile(await openDir(), 'policy.yaml', text);

    const { code, stdout, stderr } = await cli(['plan', '--policy', policy]);

    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toMatch(expected);
    expect(proxy.calls).toEqual([]);
  });

  it.each([
    ['in a directory that does not exist', (dir: string) => join(dir, 'no-such-dir', 'sweep.log'), 'its directory does not exist', {}],
    ['that is a directory', (dir: string) => dir, 'it is a directory', {}],
    ['in a directory the user may not write', (dir: string) => join(dir, 'sweep.log'), 'permission denied', asUnprivileged],
  ])('refuses a --log-file %s, naming the path and why', async (_, logPathIn, why, user) => {
    await seedOrganization(aws(), []);
    const dir = await openDir();
    const policy = await textFile(dir, 'policy.yaml', stringify(testPolicy()));
    const logDir = join(dir, 'logs');
    await mkdir(logDir, { mode: 0o555 });
    const logFile = logPathIn(logDir);

    const { code, stdout, stderr } = await cli(['apply', '--policy', policy, '--log-file', logFile], { user });

    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toContain(`imds-remediator: cannot write the log file ${logFile}: ${why}`);
    expect(stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(proxy.calls).toEqual([]);
  });
});

describe('a log file that fails during a run', () => {
  it('is reported on stderr, and the run still finishes, prints its report and posts to Slack', async () => {
    const { seeded } = await seedOrganization(aws(), ['alpha']);
    const policy = await textFile(await openDir(), 'policy.yaml', stringify(testPolicy()));
    const slack = await startSlackReceiver();

    // Opening /dev/full succeeds; every write to it fails with ENOSPC, as on a full disk.
    const { code, stdout, stderr } = await cli(['apply', '--policy', policy, '--json', '--log-file', '/dev/full'], {
      env: { SLACK_WEBHOOK_URL: slack.url() },
    }).finally(() => slack.close());

    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { instances: unknown[]; notifications: { slack: { status: string } } };
    expect(report.instances).toHaveLength(seeded.length);
    expect(report.notifications.slack.status).toBe('sent');
    expect(slack.received).toHaveLength(1);
    const told = stderr.split('\n').filter((l) => l.includes('cannot write the log file /dev/full any more (no space left on the device)'));
    expect(told).toHaveLength(1);
    expect(stderr).toContain('"message":"instance changed"'); // the log carried on, on stderr
    expect(proxy.calls.length).toBeGreaterThan(0);
  });

  it('appends to a log file that works, one JSON line per event', async () => {
    await seedOrganization(aws(), []);
    const dir = await openDir();
    const policy = await textFile(dir, 'policy.yaml', stringify(testPolicy()));
    const logFile = join(dir, 'sweep.log');
    await writeFile(logFile, '');

    const { code, stderr } = await cli(['plan', '--policy', policy, '--log-file', logFile]);

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = (await readFile(logFile, 'utf8')).trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('message');
  });
});

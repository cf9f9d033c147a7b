// A run that EC2's modify rate holds shows on a terminal's stderr what it waits for; stdout
// (the --json document) is the same whether or not stderr is a terminal.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../../functions/app/cli.ts';
import { MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { useMoto } from '../support/moto.ts';
import { testPolicy } from '../support/scenario.ts';
import { screen } from '../support/terminal.ts';

const { aws } = useMoto();
const REGION = 'us-east-1';
/** Beyond the bucket's burst of 100: the last ten wait for its refill (about 2 s). */
const INSTANCES = 110;

/** The CLI in-process, with stderr a terminal or not, everything it writes captured. */
const cli = async (args: string[], isTty: boolean) => {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    isTty,
    columns: 200,
    env: process.env,
  });
  return { code, stdout, stderr };
};

/** One account-region whose instances are all forced: every one of them is a modify. */
const forcedFleet = async () => {
  const local = aws();
  await local.createOrganization([]);
  await local.runInstances(MANAGEMENT_ACCOUNT, REGION, { count: INSTANCES, tags: { rollout: 'now' } });
  const dir = await mkdtemp(join(tmpdir(), 'imds-progress-'));
  const policy = join(dir, 'policy.yaml');
  const document = testPolicy({
    scope: { accounts: [MANAGEMENT_ACCOUNT], regions: [REGION] },
    force: { tags: [{ key: 'rollout', values: ['now'] }] },
    findings: { enabled: false },
  });
  await writeFile(policy, stringify(document));
  return policy;
};

/**
 * The status lines drawn: a carriage return, an erase and the text, up to the next carriage
 * return (a log line ends with a newline instead).
 */
const draws = (stderr: string) => [...stderr.matchAll(/\r\x1b\[K([^\n\r]*)(?=\r|$)/g)].map((m) => m[1]).filter((text) => text !== '');

describe('progress on stderr while EC2\'s modify rate holds a run', () => {
  it('on a terminal: says what it waits for, keeps log lines whole and leaves no status behind; the JSON on stdout is whole', async () => {
    const policy = await forcedFleet();

    const { code, stdout, stderr } = await cli(['apply', '--policy', policy, '--json'], true);

    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { summary: { changed: number } };
    expect(report.summary.changed).toBe(INSTANCES);
    expect(draws(stderr)).toContainEqual(
      expect.stringMatching(new RegExp(`waiting for EC2's modify rate, ~\\d+ s left: \\d+ of ${INSTANCES} changes in ${MANAGEMENT_ACCOUNT} ${REGION}`)),
    );
    // What the terminal shows at the end: every log line whole, and no status line left.
    const shown = screen([stderr]);
    expect(shown.at(-1)).toBe('');
    const logLines = shown.filter((l) => l !== '');
    expect(logLines.length).toBeGreaterThan(INSTANCES);
    for (const l of logLines) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
  });

  it('elsewhere (a pipe, a file): no status line, only the JSON log lines', async () => {
    const policy = await forcedFleet();

    const { code, stdout, stderr } = await cli(['apply', '--policy', policy, '--json'], false);

    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { summary: { changed: number } }).summary.changed).toBe(INSTANCES);
    expect(stderr).not.toMatch(/[\r\x1b]/);
    expect(stderr).not.toMatch(/waiting for|account-regions/);
    for (const l of stderr.split('\n').filter((x) => x !== '')) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
  });
});

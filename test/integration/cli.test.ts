import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { motoEnvironment } from '../../local/moto-server.ts';
import { endpoint, useMoto } from '../support/moto.ts';
import { runInstancesEvent } from '../support/events.ts';
import { readInstance, seedOrganization, testPolicy } from '../support/scenario.ts';

const { aws } = useMoto();

/** Runs the installed command the way a user does, in a child process. */
const cli = (args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['bin/imds-remediator.js', ...args],
      { env: { ...process.env, ...motoEnvironment(endpoint()), ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

const policyFile = async (policy: object) => {
  const path = join(await mkdtemp(join(tmpdir(), 'imds-policy-')), 'policy.yaml');
  await writeFile(path, stringify(policy));
  return path;
};

describe('imds-remediator command', () => {
  it('plan --json prints one JSON document with the documented shape and exits 0', async () => {
    await seedOrganization(aws());
    const policy = await policyFile(testPolicy());

    const { code, stdout } = await cli(['plan', '--policy', policy, '--json']);

    expect(code).toBe(0);
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      summary: { byVerdict: expect.objectContaining({ enforce: 12, 'blocked-v1-in-use': 6 }), changed: 0, errors: 0 },
      errors: [],
    });
    expect((report.instances as unknown[])[0]).toEqual({
      accountId: expect.stringMatching(/^\d{12}$/),
      region: expect.any(String),
      instanceId: expect.stringMatching(/^i-/),
      verdict: expect.any(String),
      reason: expect.any(String),
      // A count, or null where nothing was read or no datapoint exists (unknown is never zero).
      noTokenCalls: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number'),
      observedDays: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number'),
      hopLimit: expect.any(Number),
      changed: false,
    });
  });

  it('apply prints the table of what changed and logs each change as a JSON line on stderr', async () => {
    const local = aws();
    const { seeded } = await seedOrganization(local);
    const policy = await policyFile(testPolicy());

    const { code, stdout, stderr } = await cli(['apply', '--policy', policy]);

    expect(code).toBe(0);
    expect(stdout).toMatch(/^APPLY: 3 account\(s\), 6 account-region\(s\), 48 instance\(s\)/);
    expect(stdout).toMatch(/Changed \(18\):/);
    expect(stdout).toMatch(/Blocked, IMDSv1 still in use \(6\):\n {2}i-\w+ {2}\d{12} {2}[a-z]+-[a-z]+-\d {2}42 v1 calls/);
    const changes = stderr.split('\n').filter((l) => l.includes('"instance changed"'));
    expect(changes).toHaveLength(18);
    const plain = seeded.find((s) => s.kind === 'plain');
    if (!plain) throw new Error('no plain instance');
    expect(await readInstance(local, plain.accountId, plain.region, plain.instanceId)).toMatchObject({ httpTokens: 'required' });
  });

  it('never prints a credential: not the caller\'s secret key, nor the member roles\' session credentials', async () => {
    await seedOrganization(aws());
    const policy = await policyFile(testPolicy());
    const baseSecret = 'base-secret-Zq9xV2mK7pL4wR8tY1uE';

    const runs = [
      await cli(['apply', '--policy', policy], { AWS_SECRET_ACCESS_KEY: baseSecret, POWERTOOLS_LOG_LEVEL: 'DEBUG' }),
      await cli(['plan', '--policy', policy, '--json'], { AWS_SECRET_ACCESS_KEY: baseSecret, POWERTOOLS_LOG_LEVEL: 'DEBUG' }),
    ];

    const everything = runs.map((r) => r.stdout + r.stderr).join('\n');
    expect(everything).toContain('instance changed'); // the run did assume roles and log at length…
    expect(everything).not.toContain(baseSecret); // …without the caller's secret
    expect(everything).not.toMatch(/ASIA[A-Z0-9]{16}/); // …nor an STS temporary access key
    expect(everything).not.toMatch(/sessionToken|SessionToken|secretAccessKey|SecretAccessKey/);
  });

  it('exits 1 when part of the scope failed, after sweeping the rest', async () => {
    const { members } = await seedOrganization(aws());
    const policy = await policyFile(testPolicy({ scope: { regions: ['us-east-1'], accounts: [members[0] ?? '', '999999999999'] } }));

    const { code, stdout } = await cli(['plan', '--policy', policy, '--json']);

    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { instances: unknown[]; errors: Array<{ accountId: string }> };
    expect(report.instances).toHaveLength(8);
    expect(report.errors.map((e) => e.accountId)).toEqual(['999999999999']);
  });

  it('event replays a saved RunInstances event with the same output shape as apply', async () => {
    const local = aws();
    await local.createOrganization([]);
    const [id = ''] = await local.runInstances('123456789012', 'us-east-1', { tags: { workload: 'docker' } });
    const dir = await mkdtemp(join(tmpdir(), 'imds-event-'));
    await writeFile(join(dir, 'event.json'), JSON.stringify(runInstancesEvent('123456789012', 'us-east-1', [id])));

    const { code, stdout } = await cli(['event', join(dir, 'event.json'), '--policy', await policyFile(testPolicy()), '--json']);

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      mode: 'apply',
      summary: { changed: 1, errors: 0 },
      instances: [{ instanceId: id, verdict: 'enforce', hopLimit: 2, changed: true }],
    });
  });

  it('event exits 2 naming the field of a malformed event', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imds-event-'));
    await writeFile(join(dir, 'event.json'), JSON.stringify({ 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.ec2', account: 'x' }));
    const { code, stderr } = await cli(['event', join(dir, 'event.json'), '--policy', 'policy.yaml']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/malformed event: account: must be a 12-digit account id/);
  });

  it('event exits 2 on a truncated event file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imds-event-'));
    const text = JSON.stringify(runInstancesEvent('123456789012', 'us-east-1', ['i-0aaaaaaaaaaaaaaa1']));
    await writeFile(join(dir, 'event.json'), text.slice(0, Math.floor(text.length / 2)));
    const { code, stderr } = await cli(['event', join(dir, 'event.json'), '--policy', 'policy.yaml']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/malformed event: .*event.json is not valid JSON/);
  });

  it.each([
    [['event', '--policy', 'policy.yaml'], /event needs the path of a saved event/],
    [['plan', '--policy', 'does-not-exist.yaml'], /cannot read policy file does-not-exist.yaml/],
    [['plan', '--policy', 'policy.yaml', '--colour'], /Unknown option '--colour'/],
    [['plan'], /--policy <file> is required/],
    [['sweep', '--policy', 'policy.yaml'], /unknown command 'sweep'/],
    [['plan', '--policy', 'policy.yaml', '--concurrency', 'lots'], /--concurrency must be a whole number/],
  ])('exits 2 with the problem and a usage line for %j', async (args, message) => {
    const { code, stderr, stdout } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/^usage: imds-remediator/m);
    expect(stdout).toBe('');
  });

  it('exits 2 naming the bad field of an invalid policy, before any AWS call', async () => {
    const policy = await policyFile({ mode: 'enforce', hopLimit: { default: 99 } });
    const { code, stderr } = await cli(['apply', '--policy', policy]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/invalid policy: hopLimit.default: hop limit must be 1–64/);
  });
});

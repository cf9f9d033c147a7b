import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import { SlackWebhook } from '../../functions/adapters/slack.ts';
import { runCli } from '../../functions/app/cli.ts';
import { Secret } from '../../functions/domain/secret.ts';
import { NotificationError } from '../../functions/notify/port.ts';
import { testMessage, type SlackBlock, type SlackMessage } from '../../functions/notify/slack-message.ts';
import { startSlackReceiver, type SlackReceiver, type Scripted } from '../../local/slack-receiver.ts';
import { sweep, useMoto } from '../support/moto.ts';
import { seedOrganization, testPolicy } from '../support/scenario.ts';
import { runInstancesEvent } from '../support/events.ts';
import { days, MANAGEMENT_ACCOUNT } from '../../local/local-aws.ts';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const { aws } = useMoto();
const SECRET = 'T0pS3cretWebhookToken';
const fast = { backoffMs: 10 };

let receiver: SlackReceiver;
beforeEach(async () => {
  receiver = await startSlackReceiver();
});
afterEach(async () => {
  await receiver.close();
});

/** A loopback URL on which nothing listens. */
const deadUrl = async () => {
  const dead = await startSlackReceiver();
  const url = dead.url(SECRET);
  await dead.close();
  return url;
};

/** The CLI in-process, everything it writes captured. */
const cli = async (args: string[], env: Record<string, string>) => {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    isTty: false,
    env: { ...process.env, ...env },
  });
  return { code, stdout, stderr };
};

const policyFile = async (policy = testPolicy()) => {
  const dir = await mkdtemp(join(tmpdir(), 'imds-slack-'));
  await writeFile(join(dir, 'policy.yaml'), stringify(policy));
  return { policy: join(dir, 'policy.yaml'), log: join(dir, 'sweep.log') };
};

const texts = (blocks: SlackBlock[]): string[] =>
  blocks.flatMap((b) => {
    if (b.type === 'section') return 'fields' in b ? b.fields.map((f) => f.text) : [b.text.text];
    if (b.type === 'context') return b.elements.map((e) => e.text);
    if (b.type === 'header') return [b.text.text];
    return [];
  });

const field = (message: SlackMessage, label: string) => {
  const found = texts(message.blocks).find((t) => t.startsWith(`*${label}*\n`));
  return found === undefined ? undefined : Number(found.split('\n')[1]);
};

describe('Slack notifications', () => {
  it('posts one sweep summary whose numbers are the run’s', async () => {
    const { seeded } = await seedOrganization(aws());

    const { report } = await sweep(testPolicy(), { apply: true, env: { SLACK_WEBHOOK_URL: receiver.url(SECRET) } });

    expect(report.notifications?.slack).toEqual({ status: 'sent', attempts: 1, waitedMs: 0 });
    expect(receiver.received).toHaveLength(1);
    const [post] = receiver.received;
    expect(post?.path).toBe(`/services/T0000000/B0000000/${SECRET}`);
    expect(post?.contentType).toBe('application/json');
    const message = post?.body as SlackMessage;
    const s = report.summary;
    expect(field(message, 'Instances')).toBe(seeded.length);
    expect(field(message, 'Changed')).toBe(s.changed);
    expect(field(message, 'Safe to enforce')).toBe(s.byVerdict.enforce);
    expect(field(message, 'Blocked (IMDSv1 in use)')).toBe(s.byVerdict['blocked-v1-in-use']);
    expect(field(message, 'Compliant')).toBe(s.byVerdict.compliant);
    expect(field(message, 'Not enough evidence')).toBe(s.byVerdict['insufficient-evidence']);
    expect(field(message, 'Exempt')).toBe(s.byVerdict.exempt);
    const all = texts(message.blocks).join('\n');
    expect(all).toContain(`${s.accounts} accounts · ${s.shards} account-regions · regions: eu-west-1, us-east-1 · 0 errors`);
    const blocked = seeded.filter((x) => x.kind === 'v1-user');
    for (const b of blocked) expect(all).toContain(`\`${b.instanceId}\` ${b.accountId} ${b.region}: 42 IMDSv1 calls`);
    // After apply, what is left non-compliant per account: the v1 user and the one without data, in 2 regions.
    expect(all).toMatch(/\*Top accounts by non-compliant instances\*\n• `\d{12}`: 4\n• `\d{12}`: 4\n• `\d{12}`: 4/);
    expect(message.text).toBe(
      `IMDSv2 sweep (apply): ${seeded.length} instances in 3 accounts, ${s.changed} changed, 0 still to change, 6 blocked by IMDSv1 use, 0 errors, ` +
        '0 of 3 accounts ready for prevention',
    );
    // Every account keeps an IMDSv1 user: none is ready, and the one root says so.
    expect(all).toMatch(/\*Ready for prevention \(SCP, declarative policy\): 0 of 3 accounts\*\n• Root \(`r-[0-9a-z]+`\): 0\/3 accounts ready/);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
  });

  it('waits as long as a 429 answer’s Retry-After says, then delivers', async () => {
    await aws().createOrganization([]);
    receiver.answer({ status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' });

    const { report } = await sweep(testPolicy({ scope: { regions: ['us-east-1'] } }), {
      env: { SLACK_WEBHOOK_URL: receiver.url(SECRET) },
      slack: fast,
    });

    // The back-off here is 10 ms: a second's wait can only come from Retry-After.
    expect(report.notifications?.slack).toEqual({ status: 'sent', attempts: 2, waitedMs: 1000 });
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]?.body).toEqual(receiver.received[0]?.body);
  });

  it('retries a failing webhook a bounded number of times, and a refusal not at all', async () => {
    await aws().createOrganization([]);
    const scope = testPolicy({ scope: { regions: ['us-east-1'] } });
    const unavailable = { status: 503, body: 'unavailable' };
    receiver.answer(unavailable, unavailable, unavailable, { status: 404, body: 'no_service' });

    const failing = await sweep(scope, { env: { SLACK_WEBHOOK_URL: receiver.url(SECRET) }, slack: { ...fast, maxAttempts: 3 } });
    const postsAfterFailing = receiver.received.length;
    const refused = await sweep(scope, { env: { SLACK_WEBHOOK_URL: receiver.url('gone') }, slack: fast });

    expect(postsAfterFailing).toBe(3);
    expect(failing.report.notifications?.slack).toEqual({ status: 'failed', attempts: 3, error: expect.stringMatching(/failed after 3 attempts: HTTP 503 \(Slack or a proxy failed\)$/) });
    expect(receiver.received).toHaveLength(4);
    expect(refused.report.notifications?.slack).toEqual({ status: 'failed', attempts: 1, error: expect.stringMatching(/refused the message: HTTP 404 \(no such webhook: it was revoked or the URL is wrong\)$/) });
  });

  it('finishes the sweep (exit 0) when the Slack receiver is dead, and reports the failure', async () => {
    const { seeded } = await seedOrganization(aws());
    const files = await policyFile();

    const { code, stdout } = await cli(['apply', '--policy', files.policy, '--json', '--log-file', files.log], { SLACK_WEBHOOK_URL: await deadUrl() });

    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { instances: unknown[]; notifications: { slack: Record<string, unknown> } };
    expect(report.instances).toHaveLength(seeded.length);
    expect(report.notifications.slack).toEqual({ status: 'failed', attempts: 4, error: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('never writes the webhook URL to the output or the logs, whatever happens', async () => {
    await seedOrganization(aws(), ['alpha']);
    const files = await policyFile();
    const url = receiver.url(SECRET);
    receiver.answer({ status: 500, body: 'oops' }, { status: 400, body: 'invalid_payload' });

    const runs = [
      await cli(['apply', '--policy', files.policy, '--log-file', files.log], { SLACK_WEBHOOK_URL: url }),
      await cli(['plan', '--policy', files.policy, '--json'], { SLACK_WEBHOOK_URL: url, POWERTOOLS_LOG_LEVEL: 'DEBUG' }),
      await cli(['plan', '--policy', files.policy], { SLACK_WEBHOOK_URL: await deadUrl() }),
      await cli(['notify-test'], { SLACK_WEBHOOK_URL: url }),
      await cli(['notify-test'], { SLACK_WEBHOOK_URL: 'not a url/' + SECRET }),
    ];

    const everything = [...runs.flatMap((r) => [r.stdout, r.stderr]), await readFile(files.log, 'utf8')].join('\n');
    expect(everything).toContain('Slack: summary NOT sent'); // the failures were reported…
    expect(everything).toContain('invalid environment: SLACK_WEBHOOK_URL');
    expect(everything).not.toContain(SECRET); // …without the secret part of the URL
    expect(everything).not.toContain('/services/');
    expect(receiver.received.length).toBeGreaterThanOrEqual(3);
  });

  // Proxies and error pages often answer with the path they were asked for: the webhook's secret.
  it.each([400, 404, 500])(
    'never lets the URL out when an HTTP %i answer echoes the request path: not in the error, stderr, the log file, --json or notify-test',
    async (status) => {
      await aws().createOrganization([]);
      const files = await policyFile(testPolicy({ scope: { regions: ['us-east-1'] } }));
      const url = receiver.url(SECRET);
      const echo: Scripted = { status, body: (path) => `${status} error: POST ${path} (see http://127.0.0.1${path})` };
      receiver.answer(...Array.from({ length: 20 }, () => echo));
      const env = { SLACK_WEBHOOK_URL: url };

      const thrown = await new SlackWebhook(async () => new Secret(url), { backoffMs: 1, maxAttempts: 2 }).post(testMessage()).catch((e: unknown) => e);
      const runs = [
        await cli(['apply', '--policy', files.policy, '--log-file', files.log], env),
        await cli(['plan', '--policy', files.policy, '--json'], env),
        await cli(['notify-test', '--log-file', files.log], env),
      ];

      const everything = [inspect(thrown, { depth: 10 }), ...runs.flatMap((r) => [r.stdout, r.stderr]), await readFile(files.log, 'utf8')].join('\n');
      for (const leak of [url, new URL(url).pathname, SECRET, 'T0000000/B0000000']) expect(everything).not.toContain(leak);
      expect(everything.split(`HTTP ${status} (`).length - 1).toBeGreaterThanOrEqual(4); // each failure was still reported
      expect(thrown).toBeInstanceOf(NotificationError);
      expect((thrown as Error).message).toMatch(new RegExp(`HTTP ${status} \\([a-z :,-]+\\)$`, 'i'));
    },
  );

  it('escapes what member-account users name, in the text and the blocks: an Auto Scaling group called <!channel> <http://evil|x> & co', async () => {
    const local = aws();
    await local.createOrganization([]);
    const hostile = '<!channel> <http://evil.example|click> & co';
    const group = await local.createAutoScalingGroup(MANAGEMENT_ACCOUNT, 'us-east-1', hostile, 2);
    const [user = '', quiet = ''] = group.instanceIds;
    await local.putNoTokenCalls(MANAGEMENT_ACCOUNT, 'us-east-1', { [user]: days(14, 9), [quiet]: days(14) });
    const [launched = ''] = await group.scaleOut(1);
    const files = await policyFile(testPolicy({ scope: { regions: ['us-east-1'] } }));
    const event = join(files.log, '..', 'event.json');
    await writeFile(event, JSON.stringify(runInstancesEvent(MANAGEMENT_ACCOUNT, 'us-east-1', [launched])));

    const { code } = await cli(['event', event, '--policy', files.policy], { SLACK_WEBHOOK_URL: receiver.url(SECRET) });

    expect(code).toBe(0);
    expect(receiver.received).toHaveLength(1);
    const message = receiver.received[0]?.body as SlackMessage;
    // The message is about this group: its name is there, escaped, wherever it appears.
    for (const text of [message.text, ...texts(message.blocks)].filter((t) => t.includes('Auto Scaling group'))) {
      expect(text).toContain('&lt;!channel&gt; &lt;http://evil.example|click&gt; &amp; co');
    }
    expect(message.text).toMatch(/^Not enforced on .* in Auto Scaling group &lt;!channel&gt;/);
    for (const text of [message.text, ...texts(message.blocks)]) {
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('<http://evil');
      expect(text).not.toMatch(/&(?!amp;|lt;|gt;)/);
    }
  });

  it('notify-test posts one test message, to a URL read from Secrets Manager', async () => {
    const secrets = new SecretsManagerClient({ region: 'eu-west-1' });
    const created = await secrets.send(
      new CreateSecretCommand({ Name: 'imds-remediator/slack', SecretString: JSON.stringify({ url: receiver.url(SECRET) }) }),
    );

    const { code, stdout, stderr } = await cli(['notify-test'], { SLACK_WEBHOOK_SECRET_ARN: created.ARN ?? '' });

    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.not.stringContaining(SECRET) });
    expect(stdout).toBe('test message sent (1 attempt)\n');
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.body).toMatchObject({ text: expect.stringMatching(/test message/), blocks: [expect.anything()] });
  });

  it('notify-test without a webhook configured says how to set one (exit 2)', async () => {
    const { code, stderr } = await cli(['notify-test'], {});
    expect(code).toBe(2);
    expect(stderr).toMatch(/set SLACK_WEBHOOK_URL or SLACK_WEBHOOK_SECRET_ARN/);
  });
});

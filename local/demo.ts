// `npm run demo`: the main job on a local default. Starts moto_server, seeds a demo
// organization, then runs the real `plan` and `apply` (the same code as the CLI), and shows
// the Security Hub findings they left and the Slack summary a local webhook receiver got.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ListAccountsCommand } from '@aws-sdk/client-organizations';
import type { AwsSecurityFinding } from '@aws-sdk/client-securityhub';
import { runCli } from '../functions/app/cli.ts';
import { runInstancesEvent } from './cloudtrail-events.ts';
import { readFindings } from './findings.ts';
import { days, LocalAws, MANAGEMENT_ACCOUNT } from './local-aws.ts';
import { motoEnvironment, startMoto } from './moto-server.ts';
import { startSlackReceiver } from './slack-receiver.ts';

const REGIONS = ['us-east-1', 'eu-west-1'];
const say = (text = '') => process.stdout.write(`${text}\n`);
const heading = (text: string) => say(`\n━━ ${text} ${'━'.repeat(Math.max(0, 74 - text.length))}`);

/** Two launch templates in the management account's us-east-1: one whose instances are clean, one whose instance uses IMDSv1. */
const seedTemplates = async (aws: LocalAws) => {
  const template = async (name: string, workload: string, calls: number[]) => {
    const id = await aws.createLaunchTemplate(MANAGEMENT_ACCOUNT, 'us-east-1', name, {
      ImageId: 'ami-12c6146b',
      InstanceType: 't3.micro',
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: name }, { Key: 'workload', Value: workload }] }],
      MetadataOptions: { HttpTokens: 'optional', HttpPutResponseHopLimit: 1 },
    });
    const instances: string[] = [];
    for (const _ of calls) instances.push(...(await aws.runFromTemplate(MANAGEMENT_ACCOUNT, 'us-east-1', id)));
    await aws.putNoTokenCalls(MANAGEMENT_ACCOUNT, 'us-east-1', Object.fromEntries(instances.map((i, n) => [i, days(14, calls[n] ?? 0)])));
  };
  await template('web-fleet', 'ecs', [0, 0]);
  await template('billing-legacy', 'web', [60]);
};

/**
 * Every verdict, in every account-region: 3 accounts × 2 regions × 11 = 66 instances, plus 3 from
 * two launch templates; and a sandbox account whose 4 instances already require IMDSv2 (or have
 * IMDS off). The members sit in two OUs, Workloads and Sandbox, for the readiness table of `guardrails`.
 */
const seed = async (aws: LocalAws) => {
  const [payments = '', analytics = '', sandbox = ''] = await aws.createOrganization(['payments', 'analytics', 'sandbox']);
  await aws.createOu('Workloads', [payments, analytics]);
  await aws.createOu('Sandbox', [sandbox]);
  await seedTemplates(aws);
  for (const region of REGIONS) {
    await aws.runInstances(sandbox, region, { httpTokens: 'required', tags: { Name: 'sandbox-v2' } });
    await aws.runInstances(sandbox, region, { httpEndpoint: 'disabled', tags: { Name: 'sandbox-no-imds' } });
  }
  for (const accountId of [MANAGEMENT_ACCOUNT, payments, analytics]) {
    for (const region of REGIONS) {
      const one = async (spec: Parameters<LocalAws['runInstances']>[2]) => (await aws.runInstances(accountId, region, spec))[0] ?? '';
      const web = await one({ tags: { Name: 'web', workload: 'web' } });
      const ecs = await one({ tags: { Name: 'ecs-host', workload: 'ecs' } });
      const eks = await one({ tags: { Name: 'eks-node', 'eks:cluster-name': 'prod', 'kubernetes.io/cluster/prod': 'owned' } });
      const legacy = await one({ tags: { Name: 'legacy-billing' } });
      const docker = await one({ tags: { Name: 'docker-host', workload: 'docker' } });
      const fresh = await one({ tags: { Name: 'new-batch' } });
      await one({ tags: { Name: 'stopped-forever' } });
      const exempt = await one({ tags: { Name: 'vendor-appliance', 'imds-exempt': 'true' } });
      await one({ httpTokens: 'required', hopLimit: 1, tags: { Name: 'eks-drift', 'eks:cluster-name': 'prod' } });
      await one({ httpEndpoint: 'disabled', tags: { Name: 'no-imds' } });
      await one({ httpTokens: 'required', tags: { Name: 'already-v2' } });
      await aws.putNoTokenCalls(accountId, region, {
        [web]: days(14),
        [ecs]: days(14),
        [eks]: days(14),
        [legacy]: days(14, 120),
        [docker]: days(14, 8),
        [fresh]: days(3),
        [exempt]: days(14, 5),
      });
    }
  }
};

/** What the sweep left in Security Hub, read back from every account-region. */
const showFindings = async (aws: LocalAws, accounts: string[]) => {
  const all: AwsSecurityFinding[] = [];
  for (const accountId of accounts) for (const region of REGIONS) all.push(...(await readFindings(aws, accountId, region)));
  const count = (status: string) => all.filter((f) => f.Compliance?.Status === status).length;
  say(`${all.length} findings in ${accounts.length} accounts × ${REGIONS.length} regions (each imported in its own account-region):`);
  say(`  PASSED ${count('PASSED')}   FAILED ${count('FAILED')}   NOT_AVAILABLE ${count('NOT_AVAILABLE')}`);
  say('a few of them:');
  const rank = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL'];
  const sample = [...new Map(all.map((f) => [`${f.Compliance?.Status} ${f.Severity?.Label}`, f])).values()].sort(
    (a, b) => rank.indexOf(a.Severity?.Label ?? '') - rank.indexOf(b.Severity?.Label ?? '') || (a.Title ?? '').localeCompare(b.Title ?? ''),
  );
  for (const f of sample.slice(0, 6)) {
    say(`  ${(f.Compliance?.Status ?? '').padEnd(13)} ${(f.Severity?.Label ?? '').padEnd(13)} ${f.AwsAccountId} ${f.Resources?.[0]?.Region}  ${f.Title}`);
  }
};

const main = async () => {
  const started = Date.now();
  heading('Starting a local AWS (moto_server)');
  const moto = await startMoto();
  say(`moto_server on ${moto.endpoint}`);
  Object.assign(process.env, motoEnvironment(moto.endpoint));
  const logFile = join(await mkdtemp(join(tmpdir(), 'imds-demo-')), 'sweep.log');
  const slack = await startSlackReceiver();
  const io = {
    stdout: (text: string) => void process.stdout.write(text),
    stderr: (text: string) => void process.stderr.write(text),
    isTty: false,
    env: process.env,
  };
  try {
    heading('Seeding a demo organization');
    const aws = new LocalAws();
    await seed(aws);
    say(`3 accounts × ${REGIONS.length} regions × 11 instances: web, ECS and EKS hosts, a legacy app and a docker host`);
    say('still using IMDSv1, a new instance, one without metrics, an exempt appliance, hop-limit drift, IMDS off;');
    say('and a sandbox account (OU Sandbox) whose 4 instances already require IMDSv2. payments and analytics sit in OU Workloads.');
    say('and two launch templates that allow IMDSv1: web-fleet (2 clean instances) and billing-legacy (1 IMDSv1 user).');

    const policy = 'local/demo-policy.yaml';
    heading(`imds-remediator plan --policy ${policy}`);
    const planned = await runCli(['plan', '--policy', policy, '--log-file', logFile], io);

    heading(`imds-remediator apply --policy ${policy}   (SLACK_WEBHOOK_URL set to a local receiver)`);
    const applied = await runCli(['apply', '--policy', policy, '--log-file', logFile], {
      ...io,
      env: { ...process.env, SLACK_WEBHOOK_URL: slack.url() },
    });

    heading('Security Hub findings');
    const { Accounts } = await aws.org.send(new ListAccountsCommand({}));
    await showFindings(aws, (Accounts ?? []).flatMap((a) => (a.Id ? [a.Id] : [])));

    heading('Slack: the summary the local webhook receiver got');
    for (const post of slack.received) {
      const message = post.body as { text?: string; blocks?: unknown[] };
      say(`fallback text: ${message.text}`);
      say('blocks:');
      for (const block of message.blocks ?? []) say(`  ${JSON.stringify(block)}`);
    }

    heading('imds-remediator plan again: the organization has converged');
    const again = await runCli(['plan', '--policy', policy, '--log-file', logFile], io);

    const guardrailsDir = join(dirname(logFile), 'guardrails');
    heading(`imds-remediator guardrails --policy ${policy} --out ${guardrailsDir} --all-regions`);
    say('which OUs are ready for prevention (an SCP, the EC2 declarative policy); it attaches nothing (exit 1: not all are).');
    say('--all-regions reads every enabled region (moto enables them all), since an SCP applies in every one of them');
    const prevention = await runCli(['guardrails', '--policy', policy, '--out', guardrailsDir, '--all-regions'], io);

    // The event-driven auto-fix, replayed from saved CloudTrail events: a plain launch, and a
    // launch into an Auto Scaling group whose other members still use IMDSv1.
    const group = await aws.createAutoScalingGroup(MANAGEMENT_ACCOUNT, 'us-east-1', 'billing-workers', 2);
    await aws.putNoTokenCalls(MANAGEMENT_ACCOUNT, 'us-east-1', { [group.instanceIds[0] ?? '']: days(14, 31), [group.instanceIds[1] ?? '']: days(14) });
    const [scaledOut = ''] = await group.scaleOut(1);
    const [launched = ''] = await aws.runInstances(MANAGEMENT_ACCOUNT, 'us-east-1', { tags: { Name: 'batch-worker', workload: 'docker' } });
    const eventFile = join(dirname(logFile), 'run-instances.json');
    await writeFile(eventFile, JSON.stringify(runInstancesEvent(MANAGEMENT_ACCOUNT, 'us-east-1', [launched, scaledOut]), null, 2));
    heading(`imds-remediator event ${eventFile} --policy ${policy}`);
    say('two instances just launched: one plain, one into an Auto Scaling group whose siblings use IMDSv1');
    const replayed = await runCli(['event', eventFile, '--policy', policy, '--log-file', logFile], io);

    const logLines = (await readFile(logFile, 'utf8')).trim().split('\n');
    const change = logLines.find((l) => l.includes('"instance changed"'));
    heading('Structured logs');
    say(`${logLines.length} JSON lines in ${logFile}; one change, as logged:`);
    say(change ?? '(none)');
    say(`\nexit codes: plan ${planned}, apply ${applied}, plan again ${again}, guardrails ${prevention}, event ${replayed}; demo took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // guardrails exits 1 by design here: the Workloads OU keeps its IMDSv1 users.
    return planned === 0 && applied === 0 && again === 0 && prevention === 1 && replayed === 0 ? 0 : 1;
  } finally {
    await slack.close();
    await moto.stop();
  }
};

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);

// The CLI and the deployed sweep sum their shards with one aggregator: for the same seeded
// organization they must report the same totals, the same Security Hub counts and the same
// Slack summary text.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { motoEnvironment } from '../../local/moto-server.ts';
import type { SweepReport } from '../../functions/report/aggregate.ts';
import { endpoint, useMoto } from '../support/moto.ts';
import { runDistributedMap } from '../support/distributed-map.ts';
import { seedOrganization, testPolicy } from '../support/scenario.ts';
import { prepareDeployment, useSweepFunctions } from '../support/sweep-functions.ts';

const { aws } = useMoto();
const BUCKET = 'imds-remediator-one-report';
const handlers = useSweepFunctions('apply', BUCKET);

const reset = async () => {
  const res = await fetch(`${endpoint()}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
};

const throughState = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** `imds-remediator plan --json`, as a user runs it; Slack goes to the same local receiver. */
const cliPlan = async (): Promise<SweepReport> => {
  const path = join(await mkdtemp(join(tmpdir(), 'imds-policy-')), 'policy.yaml');
  await writeFile(path, stringify(testPolicy()));
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['bin/imds-remediator.js', 'plan', '--policy', path, '--json'], { env: { ...process.env, ...motoEnvironment(endpoint()) } }, (error, out, err) =>
      error ? reject(new Error(`CLI failed: ${err}`)) : resolve(out),
    );
  });
  return JSON.parse(stdout) as SweepReport;
};

/** The deployed functions chained as the state machine chains them, for a plan execution. */
const deployedPlan = async (): Promise<SweepReport> => {
  await prepareDeployment(BUCKET, testPolicy());
  const planned = throughState((await handlers.plan({ mode: 'plan' })) as { apply: boolean; plan: unknown; shardsKey: string });
  const results = await runDistributedMap({ bucket: BUCKET, state: planned, runItem: handlers.shard });
  return throughState((await handlers.report({ apply: planned.apply, plan: planned.plan, results })) as SweepReport);
};

const lastSlackText = () => (handlers.slack.received.at(-1)?.body as { text: string } | undefined)?.text;

describe('one report for the CLI and the deployed sweep', () => {
  it('gives the same totals, findings and Slack summary for the same seeded organization', async () => {
    await seedOrganization(aws());
    const fromCli = await cliPlan();
    const cliSlack = lastSlackText();

    // The same organization again, from nothing: the same kinds of instance in the same places.
    await reset();
    await seedOrganization(aws());
    const deployed = await deployedPlan();
    const deployedSlack = lastSlackText();

    expect(fromCli.summary.instances).toBeGreaterThan(0);
    expect(deployed.summary).toEqual(fromCli.summary);
    const counts = (r: SweepReport) => ({ enabled: r.findings.enabled, imported: r.findings.imported, unchanged: r.findings.unchanged, failed: r.findings.failed.length });
    expect(counts(deployed)).toEqual(counts(fromCli));
    expect(fromCli.findings).toMatchObject({ enabled: true, imported: fromCli.summary.instances });
    expect(cliSlack).toMatch(/^IMDSv2 sweep \(plan \(nothing changed\)\)/);
    expect(deployedSlack).toBe(cliSlack);
    // The readiness per OU too: the deployed plan hands its OU tree to the report through the bucket.
    const readiness = (r: SweepReport) => r.readiness && { ...r.readiness, units: r.readiness.units.map((u) => [u.path, u.accounts, u.readyAccounts, u.ready]) };
    expect(readiness(fromCli)).toMatchObject({ accounts: 3, unitCount: 1 });
    expect(readiness(deployed)).toEqual(readiness(fromCli));
  });
});

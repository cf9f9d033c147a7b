// Integration tests: the real SDK, pointed at the shared moto_server through the standard env.
import { beforeEach, inject } from 'vitest';
import { motoEnvironment } from '../../local/moto-server.ts';
import { LocalAws } from '../../local/local-aws.ts';
import { JsonLinesLog } from '../../functions/adapters/json-lines-log.ts';
import { composeWorld, type ComposeOptions } from '../../functions/app/compose.ts';
import { readEnvironment } from '../../functions/app/config.ts';
import { parsePolicy, type PolicyInput } from '../../functions/domain/policy.ts';
import { runSweep, type SweepOptions } from '../../functions/sweep/run.ts';

export const endpoint = () => inject('motoEndpoint');

/** Points this test file at moto and resets it before every test. */
export const useMoto = () => {
  Object.assign(process.env, motoEnvironment(endpoint()));
  beforeEach(async () => {
    const res = await fetch(`${endpoint()}/moto-api/reset`, { method: 'POST' });
    if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
  });
  return { aws: () => new LocalAws() };
};

export const captureLog = () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = new JsonLinesLog((line) => void lines.push(JSON.parse(line) as Record<string, unknown>), 'DEBUG');
  return { log, lines };
};

export const sweep = async (
  policyInput: PolicyInput,
  options: Partial<SweepOptions> & {
    customizeClient?: ComposeOptions['customizeClient'];
    env?: Record<string, string>;
    slack?: ComposeOptions['slack'];
  } = {},
) => {
  const policy = parsePolicy(policyInput);
  const { log, lines } = captureLog();
  const env = readEnvironment({ ...process.env, ...options.env });
  const world = composeWorld({ policy, env, customizeClient: options.customizeClient, slack: options.slack });
  const report = await runSweep(world, policy, { apply: false, log, verify: { attempts: 5, delayMs: 50 }, ...options });
  return { report, lines };
};

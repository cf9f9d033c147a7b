// `imds-remediator doctor`: the read-only preflight, from validated options to an exit code.
import { z } from 'zod';
import { InputError } from '../../domain/errors.ts';
import type { Policy } from '../../domain/policy.ts';
import { DEFAULT_EVENT_BUS } from '../../doctor/prerequisites.ts';
import { renderDoctor } from '../../doctor/render.ts';
import { runDoctor } from '../../doctor/run.ts';
import type { ComposeOptions } from '../compose.ts';
import { composeDoctor } from './compose.ts';
import type { Environment } from '../config.ts';

const eventBusSchema = z.union([
  z.string().regex(/^[\w.\-/]{1,256}$/),
  z.string().regex(/^arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[\w.\-/]{1,256}$/),
]);

/** The central bus from --event-bus (a name or an ARN), or the one the central stack's prod stage creates. */
export const parseEventBus = (value: string | undefined): string => {
  if (value === undefined) return DEFAULT_EVENT_BUS;
  const parsed = eventBusSchema.safeParse(value);
  if (!parsed.success) throw new InputError(`--event-bus must be an event bus name or ARN, not '${value}'`);
  return parsed.data;
};

/** Prints the report (a table, or one JSON document) and returns 0 when everything is in place, 1 otherwise. */
export const runDoctorCommand = async (
  options: { json: boolean; concurrency: number; eventBus: string | undefined },
  policy: Policy,
  env: Environment,
  io: { stdout: (text: string) => void },
  // Tests add SDK middleware through this (a refused AssumeRole), as they do for composeWorld.
  customizeClient?: ComposeOptions['customizeClient'],
): Promise<number> => {
  const world = composeDoctor({ policy, env, customizeClient });
  const eventBus = options.eventBus ?? DEFAULT_EVENT_BUS;
  const report = await runDoctor(world, policy, { eventBus, concurrency: options.concurrency });
  io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderDoctor(report)}\n`);
  return report.ok ? 0 : 1;
};

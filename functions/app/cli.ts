// The `imds-remediator` command: plan and apply an organization sweep from a laptop or CI.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { JsonLinesLog } from '../adapters/json-lines-log.ts';
import { composeNotifier, composeWorld } from './compose.ts';
import { readEnvironment } from './config.ts';
import { loadPolicy } from './load-policy.ts';
import { openLogFile } from './log-file.ts';
import { describeError, InputError } from '../domain/errors.ts';
import { deliver } from '../notify/deliver.ts';
import { renderOutcomes } from '../report/render-outcomes.ts';
import { testMessage } from '../notify/slack-message.ts';
import { remediateEvent } from '../events/remediate-event.ts';
import { EventError } from '../events/instance-event.ts';
import { renderReport } from '../report/render-text.ts';
import { hasFailures } from '../report/aggregate.ts';
import { runSweep } from '../sweep/run.ts';
import { parseEventBus, runDoctorCommand } from './doctor/command.ts';
import { DEFAULT_OUT_DIR, runGuardrailsCommand } from './guardrails/command.ts';
import { ProgressLine } from './progress-line.ts';
import { USAGE } from './usage.ts';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Whether stderr is a terminal: only then does a run show its progress there. */
  isTty: boolean;
  /** The terminal's width, when it is one. */
  columns?: number | undefined;
  env: NodeJS.ProcessEnv;
}

const readEvent = async (path: string): Promise<unknown> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read event file ${path}: ${describeError(error)}`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new EventError([`${path} is not valid JSON (${describeError(error)})`], { cause: error });
  }
};

const parseCommand = (argv: string[]) => {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        policy: { type: 'string' },
        json: { type: 'boolean', default: false },
        concurrency: { type: 'string' },
        'log-file': { type: 'string' },
        'no-findings': { type: 'boolean', default: false },
        'event-bus': { type: 'string' },
        out: { type: 'string' },
        'all-regions': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new InputError(describeError(error).replace(/^TypeError( \[\w+\])?: /, ''), { cause: error });
  }
  const { values, positionals } = parsed;
  const [command, ...extra] = positionals;
  if (values.help) return { help: true as const };
  if (command === 'notify-test') {
    if (extra.length > 0) throw new InputError(`unexpected argument '${extra[0]}'`);
    return { help: false as const, command: 'notify-test' as const, logFile: values['log-file'] };
  }
  if (command !== 'plan' && command !== 'apply' && command !== 'event' && command !== 'doctor' && command !== 'guardrails') {
    throw new InputError(command ? `unknown command '${command}'` : 'a command is required');
  }
  const eventFile = command === 'event' ? extra.shift() : undefined;
  if (command === 'event' && !eventFile) throw new InputError('event needs the path of a saved event: event <event.json>');
  if (extra.length > 0) throw new InputError(`unexpected argument '${extra[0]}'`);
  if (!values.policy) throw new InputError('--policy <file> is required');
  const concurrency = values.concurrency === undefined ? 8 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new InputError(`--concurrency must be a whole number from 1 to 256, not '${values.concurrency}'`);
  }
  if (command !== 'doctor' && values['event-bus'] !== undefined) throw new InputError('--event-bus is an option of doctor only');
  if (command === 'doctor' && (values['log-file'] !== undefined || values['no-findings'])) {
    throw new InputError('doctor writes nothing: --log-file and --no-findings do not apply to it');
  }
  if (command !== 'guardrails' && values.out !== undefined) throw new InputError('--out is an option of guardrails only');
  if (command !== 'guardrails' && values['all-regions']) throw new InputError('--all-regions is an option of guardrails only');
  if (command === 'guardrails' && (values['log-file'] !== undefined || values['no-findings'])) {
    throw new InputError('guardrails writes no finding and logs only warnings: --log-file and --no-findings do not apply to it');
  }
  const run: 'plan' | 'apply' | 'event' | 'doctor' | 'guardrails' = command;
  return {
    help: false as const,
    command: run,
    eventFile,
    policyPath: values.policy,
    json: values.json,
    concurrency,
    logFile: values['log-file'],
    findings: !values['no-findings'],
    eventBus: command === 'doctor' ? parseEventBus(values['event-bus']) : undefined,
    outDir: values.out === '' ? undefined : (values.out ?? DEFAULT_OUT_DIR),
    allRegions: values['all-regions'],
  };
};

/** One test message to the configured webhook: 0 sent, 1 not sent, 2 not configured. */
const notifyTest = async (io: CliIo, logFile: string | undefined): Promise<number> => {
  const env = readEnvironment(io.env);
  const notifier = composeNotifier({ env });
  if (!notifier) throw new InputError('no Slack webhook configured: set SLACK_WEBHOOK_URL or SLACK_WEBHOOK_SECRET_ARN');
  const file = logFile === undefined ? undefined : openLogFile(logFile, io.stderr);
  try {
    const log = new JsonLinesLog(file ? file.write : io.stderr, env.logLevel);
    const outcome = await deliver(notifier, testMessage(), log, 'test');
    if (outcome.status === 'sent') {
      io.stdout(`test message sent (${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'})\n`);
      return 0;
    }
    io.stderr(`imds-remediator: test message not sent: ${outcome.status === 'failed' ? outcome.error : outcome.status}\n`);
    return 1;
  } finally {
    file?.close();
  }
};

/** Runs one CLI invocation and returns its exit code; never calls process.exit itself. */
export const runCli = async (argv: string[], io: CliIo): Promise<number> => {
  let options;
  try {
    options = parseCommand(argv);
    if (options.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (options.command === 'notify-test') return await notifyTest(io, options.logFile);
    const policy = await loadPolicy({ file: options.policyPath });
    const env = readEnvironment(io.env);
    if (options.command === 'doctor') return await runDoctorCommand(options, policy, env, io);
    if (options.command === 'guardrails') {
      if (options.outDir === undefined) throw new InputError('--out needs a directory');
      return await runGuardrailsCommand({ ...options, outDir: options.outDir }, policy, env, io);
    }
    // Everything this run writes to stderr goes through the status line, which steps aside for it.
    const progress = new ProgressLine({ write: io.stderr, isTty: io.isTty, columns: io.columns });
    const stderr = progress.write;
    const logFile = options.logFile === undefined ? undefined : openLogFile(options.logFile, stderr);
    const log = new JsonLinesLog(logFile ? logFile.write : stderr, env.logLevel);
    try {
      const world = composeWorld({ policy, env });
      let report;
      if (options.eventFile !== undefined) {
        const outcome = await remediateEvent(world, policy, await readEvent(options.eventFile), { log, findings: options.findings });
        if (outcome.status === 'ignored') stderr(`event ignored: ${outcome.reason}\n`);
        report = outcome.report;
      } else {
        report = await runSweep(world, policy, {
          apply: options.command === 'apply',
          log,
          concurrency: options.concurrency,
          findings: options.findings,
          onProgress: progress.swept,
          onPacing: progress.pacing,
        });
      }
      // The report may go to the same terminal: the line is gone before it starts.
      progress.end();
      io.stdout(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderReport(report)}\n${renderOutcomes(report)}\n`);
      return hasFailures(report) ? 1 : 0;
    } finally {
      progress.end();
      logFile?.close();
    }
  } catch (error) {
    if (error instanceof InputError) {
      io.stderr(`imds-remediator: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    io.stderr(`imds-remediator: the sweep could not run: ${describeError(error)}\n`);
    return 1;
  }
};

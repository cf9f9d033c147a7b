import { runCli } from './cli.ts';

/** The process edge: real streams and environment, then the CLI. */
export const main = (argv: string[]): Promise<number> =>
  runCli(argv, {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    isTty: Boolean(process.stderr.isTTY),
    columns: process.stderr.columns,
    env: process.env,
  });

// Entry point of the CLI (bin/imds-remediator.js starts it, bundled in dist/cli/ or from the
// sources). `--help` is answered from the usage alone; any other command loads the CLI, and
// with it the SDK clients, on demand (a chunk of its own in the bundle).
import { asksOnlyForHelp, USAGE } from './usage.ts';

const argv = process.argv.slice(2);
if (asksOnlyForHelp(argv)) {
  process.stdout.write(`${USAGE}\n`);
} else {
  const { main } = await import('./main.ts');
  process.exitCode = await main(argv);
}

// Entry point of the bundled CLI (dist/imds-remediator.js): `node dist/imds-remediator.js plan …`.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));

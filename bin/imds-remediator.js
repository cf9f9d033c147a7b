#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so `npx imds-remediator` works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
await import('../functions/app/cli-entry.ts');

import type { TestProject } from 'vitest/node';
import { startMoto, type MotoServer } from '../../local/moto-server.ts';
import { buildCliBundle, bundleState } from '../../scripts/cli-bundle.mjs';

let moto: MotoServer | undefined;

export async function setup(project: TestProject) {
  // Tests that spawn the command run what users run, the bundle: built anew here when the sources
  // changed since it was built (bin would otherwise run the sources, slower and saying so).
  if (!bundleState().fresh) await buildCliBundle();
  moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
}

export async function teardown() {
  await moto?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}

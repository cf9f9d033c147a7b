import type { TestProject } from 'vitest/node';
import { startMoto, type MotoServer } from '../../local/moto-server.ts';

let moto: MotoServer | undefined;

export async function setup(project: TestProject) {
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

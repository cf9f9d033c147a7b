// Starts and stops a private moto_server (an independent AWS emulator) on a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const MOTO_MISSING =
  'moto_server is not on PATH. The tests and the demo run against a local AWS emulator: install it with\n' +
  '  pip install "moto[server]"\n' +
  'and make sure its moto_server command is on PATH.';

export interface MotoServer {
  endpoint: string;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const waitUntilReady = async (endpoint: string, child: ChildProcess, exited: () => string | undefined) => {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const failure = exited();
    if (failure) throw new Error(failure);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`moto_server did not answer on ${endpoint} within 30 s`);
};

export const startMoto = async (): Promise<MotoServer> => {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let failure: string | undefined;
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-2000);
  });
  child.once('error', (error: NodeJS.ErrnoException) => {
    failure = error.code === 'ENOENT' ? MOTO_MISSING : `moto_server failed to start: ${error.message}`;
  });
  child.once('exit', (code) => {
    failure ??= `moto_server exited with code ${code}: ${stderrTail}`;
  });
  await waitUntilReady(endpoint, child, () => failure);
  return {
    endpoint,
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
};

/** The SDK's standard environment, pointed at the emulator with throwaway credentials. */
export const motoEnvironment = (endpoint: string, region = 'us-east-1'): Record<string, string> => ({
  AWS_ENDPOINT_URL: endpoint,
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: region,
  // The SDK clients are pinned; its Node 22 notice is for the future releases.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

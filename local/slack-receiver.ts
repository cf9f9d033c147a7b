// A stand-in for Slack's incoming webhook on 127.0.0.1: records what was posted and answers
// as scripted (by default 200 "ok", as Slack does).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  contentType: string | undefined;
  body: unknown;
}

export interface Scripted {
  status: number;
  headers?: Record<string, string>;
  /** A function of the request path answers as proxies' error pages do, echoing it. */
  body?: string | ((path: string) => string);
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

export const startSlackReceiver = async () => {
  const received: Received[] = [];
  const script: Scripted[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      const path = req.url ?? '';
      received.push({ path, contentType: req.headers['content-type'], body });
      const answer = script.shift() ?? { status: 200, body: 'ok' };
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(typeof answer.body === 'function' ? answer.body(path) : (answer.body ?? ''));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    received,
    /** A webhook URL shaped like Slack's, whose last part is the secret. */
    url: (secret = 'XXXXdemoXXXXsecretXXXX') => `http://127.0.0.1:${port}/services/T0000000/B0000000/${secret}`,
    /** The next answers, in order; afterwards 200 "ok". */
    answer: (...answers: Scripted[]) => void script.push(...answers),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

export type SlackReceiver = Awaited<ReturnType<typeof startSlackReceiver>>;

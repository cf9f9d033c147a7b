// A loopback proxy in front of moto_server that injects AWS faults, deterministically.
// The real SDK talks to it through AWS_ENDPOINT_URL; it reads each call's service,
// operation, region and account from the request, and either forwards it or fails it.
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * - `throttle`: the service's own throttling error (EC2 RequestLimitExceeded on 503, STS
 *   and CloudWatch Throttling, Organizations TooManyRequestsException), which the SDK's
 *   adaptive retry treats as throttling.
 * - `http-429` / `http-503` / `http-500`: that status with a generic error body.
 * - `reset`: the connection is destroyed before any answer.
 * - `stall`: no answer at all, until the client gives up (its request timeout).
 * - `lost-answer`: the call reaches moto and takes effect, then the connection drops: the
 *   client cannot tell whether it happened (a timeout after the server acted).
 * - `{ code, status? }`: a named service error (e.g. InvalidInstanceID.NotFound, 400).
 * - `{ rewrite }`: the call reaches moto and its JSON answer is changed on the way back, for
 *   answers moto never gives (a NextToken that repeats, or one that never ends).
 * - `{ delayMs }`: the call reaches moto, answered as usual, after this long: a slow service,
 *   so that a run's time runs out on a handful of instances.
 */
export type Fault =
  | 'throttle'
  | 'http-429'
  | 'http-503'
  | 'http-500'
  | 'reset'
  | 'stall'
  | 'lost-answer'
  | { code: string; status?: number; message?: string }
  | RewriteFault
  | DelayFault;

export interface DelayFault {
  delayMs: number;
}

export interface RewriteFault {
  rewrite: (answer: Record<string, unknown>, call: Call) => Record<string, unknown>;
}

export interface Call {
  service: string;
  operation: string;
  region: string;
  /** The account whose credentials signed the call; `unknown` before they are known. */
  accountId: string;
  params: Record<string, unknown>;
  /** The SDK's attempt number for this call (1 for the first try). */
  attempt: number;
  /** The fault injected, if any. */
  fault?: Fault;
}

export interface FaultRule {
  /** Without operation (or service): any. */
  operation?: string;
  service?: string;
  accountId?: string;
  region?: string;
  /** Further narrowing on the call's parameters. */
  when?: (call: Call) => boolean;
  fault: Fault;
  /** Fail the first N matching calls (then forward). */
  first?: number;
  /**
   * Fail the first N attempts of each SDK call (its amz-sdk-request header counts them):
   * deterministic even when calls run concurrently. Without first or attempts: every call.
   */
  attempts?: number;
  /** Runs before the faulted call is answered, e.g. to change the world as a race would. */
  before?: (call: Call) => Promise<void>;
}

interface ActiveRule extends FaultRule {
  matched: number;
}

export interface FaultProxy {
  endpoint: string;
  calls: Call[];
  inject(rule: FaultRule): void;
  /** Removes every rule (the fault clears) and forgets the calls. */
  clear(): void;
  close(): Promise<void>;
}

// moto's default account signs with the environment's static keys.
const DEFAULT_ACCOUNT = '123456789012';

type Protocol = 'ec2' | 'query' | 'json';

const protocolOf = (service: string, contentType: string): Protocol => {
  if (contentType.includes('json')) return 'json';
  return service === 'ec2' ? 'ec2' : 'query';
};

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The error answer each protocol's deserializer reads, as the real services send it. */
const errorResponse = (protocol: Protocol, status: number, code: string, message: string) => {
  const requestId = randomUUID();
  if (protocol === 'ec2') {
    return {
      status,
      headers: { 'content-type': 'text/xml;charset=UTF-8' },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
    };
  }
  if (protocol === 'query') {
    const type = status >= 500 ? 'Receiver' : 'Sender';
    return {
      status,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
      body: `<ErrorResponse><Error><Type>${type}</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    };
  }
  // awsJson: CloudWatch is awsQuery-compatible and names its query error code in a header.
  return {
    status,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-requestid': requestId,
      'x-amzn-query-error': `${code};${status >= 500 ? 'Receiver' : 'Sender'}`,
    },
    body: JSON.stringify({ __type: code, message }),
  };
};

const THROTTLE_CODE: Record<string, string> = {
  ec2: 'RequestLimitExceeded',
  organizations: 'TooManyRequestsException',
};

const answerFor = (fault: Exclude<Fault, 'reset' | 'stall' | 'lost-answer' | RewriteFault | DelayFault>, service: string, protocol: Protocol) => {
  if (typeof fault === 'object') return errorResponse(protocol, fault.status ?? 400, fault.code, fault.message ?? `${fault.code} (injected)`);
  switch (fault) {
    case 'throttle':
      // EC2 throttles with 503; the query and JSON services with 400.
      return service === 'ec2'
        ? errorResponse(protocol, 503, 'RequestLimitExceeded', 'Request limit exceeded.')
        : errorResponse(protocol, 400, THROTTLE_CODE[service] ?? 'Throttling', 'Rate exceeded');
    case 'http-429':
      return errorResponse(protocol, 429, 'TooManyRequests', 'Too Many Requests');
    case 'http-503':
      return errorResponse(protocol, 503, 'ServiceUnavailable', 'Service Unavailable');
    case 'http-500':
      return errorResponse(protocol, 500, protocol === 'ec2' ? 'InternalError' : 'InternalFailure', 'An internal error has occurred');
  }
};

/**
 * REST services name the operation by method and path, not in a header or the body: the
 * Security Hub operations this tool calls.
 */
const REST_OPERATIONS: Record<string, Record<string, string>> = {
  securityhub: {
    'POST /findings': 'GetFindings',
    'POST /findings/import': 'BatchImportFindings',
    'PATCH /findings/batchupdate': 'BatchUpdateFindings',
    'GET /accounts': 'DescribeHub',
  },
};

const restOperation = (service: string, method = '', url = '') => REST_OPERATIONS[service]?.[`${method} ${url.split('?')[0] ?? ''}`] ?? '';

const readBody = (stream: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });

const parseParams = (protocol: Protocol, body: string): Record<string, unknown> => {
  if (protocol === 'json') {
    try {
      const parsed: unknown = JSON.parse(body || '{}');
      return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(body));
};

export const startFaultProxy = async (target: string): Promise<FaultProxy> => {
  const rules: ActiveRule[] = [];
  const calls: Call[] = [];
  // Temporary credentials → account, learned from the AssumeRole answers that pass through.
  const accountOfKey = new Map<string, string>();
  const sockets = new Set<Socket>();

  const describe = (req: IncomingMessage, body: Buffer): Call => {
    const auth = req.headers.authorization ?? '';
    const [, key = '', region = '', service = ''] = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\//.exec(auth) ?? [];
    const protocol = protocolOf(service, req.headers['content-type'] ?? '');
    const params = parseParams(protocol, body.toString('utf8'));
    const target = req.headers['x-amz-target'];
    const operation =
      typeof target === 'string' ? (target.split('.').pop() ?? '') : String(params.Action ?? '') || restOperation(service, req.method, req.url);
    const accountId = accountOfKey.get(key) ?? (key.startsWith('ASIA') ? 'unknown' : DEFAULT_ACCOUNT);
    const attempt = Number(/attempt=(\d+)/.exec(String(req.headers['amz-sdk-request'] ?? ''))?.[1] ?? 1);
    return { service, operation, region, accountId, params, attempt };
  };

  const matching = (call: Call): ActiveRule | undefined =>
    rules.find((r) => {
      if (r.operation && r.operation !== call.operation) return false;
      if (r.service && r.service !== call.service) return false;
      if (r.accountId && r.accountId !== call.accountId) return false;
      if (r.region && r.region !== call.region) return false;
      if (r.when && !r.when(call)) return false;
      if (r.attempts !== undefined) return call.attempt <= r.attempts;
      r.matched += 1;
      return r.first === undefined || r.matched <= r.first;
    });

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, call: Call, dropAnswer = false, rewrite?: RewriteFault['rewrite']) => {
    const url = new URL(req.url ?? '/', target);
    const upstream = httpRequest(url, { method: req.method, headers: req.headers }, async (answer) => {
      const data = await readBody(answer);
      if (call.operation === 'AssumeRole' && answer.statusCode === 200) {
        const key = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(data.toString('utf8'))?.[1];
        const account = /^arn:[^:]+:iam::(\d{12}):/.exec(String(call.params.RoleArn ?? ''))?.[1];
        if (key && account) accountOfKey.set(key, account);
      }
      if (dropAnswer) return void req.socket.destroy();
      if (rewrite && answer.statusCode === 200) {
        const parsed = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
        const changed = Buffer.from(JSON.stringify(rewrite(parsed, call)));
        res.writeHead(200, { ...answer.headers, 'content-length': changed.length });
        return void res.end(changed);
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.end(data);
    });
    upstream.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: upstream failed: ${error.message}`);
    });
    upstream.end(body);
  };

  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const call = describe(req, body);
    calls.push(call);
    const rule = matching(call);
    if (!rule) return forward(req, res, body, call);
    call.fault = rule.fault;
    await rule.before?.(call);
    if (rule.fault === 'lost-answer') return forward(req, res, body, call, true);
    if (typeof rule.fault === 'object' && 'rewrite' in rule.fault) return forward(req, res, body, call, false, rule.fault.rewrite);
    if (typeof rule.fault === 'object' && 'delayMs' in rule.fault) {
      await new Promise((resolve) => setTimeout(resolve, (rule.fault as DelayFault).delayMs));
      return forward(req, res, body, call);
    }
    if (rule.fault === 'reset') {
      req.socket.destroy();
      return;
    }
    // A stall: hold the request unanswered; the client's timeout (or close()) ends it.
    if (rule.fault === 'stall') return;
    const protocol = protocolOf(call.service, req.headers['content-type'] ?? '');
    const answer = answerFor(rule.fault, call.service, protocol);
    res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
    res.end(answer.body);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // Never the reason a test process stays alive.
  server.unref();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    inject: (rule) => void rules.push({ ...rule, matched: 0 }),
    clear: () => {
      rules.length = 0;
      calls.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
};

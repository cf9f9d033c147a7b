// SDK middleware for tests: observe or alter what the real clients send and receive.
import type { MiddlewareStack } from '@smithy/types';
import type { AnyClient } from '../../functions/app/compose.ts';

export interface Call {
  operation: string;
  input: Record<string, unknown>;
}

/** Records every SDK call by operation, on every client the composition root builds. */
export const countCalls = () => {
  const calls: Call[] = [];
  const customizeClient = (client: AnyClient) => {
    (client.middlewareStack as MiddlewareStack<object, object>).add(
      (next, context) => async (args) => {
        calls.push({ operation: String(context.commandName).replace(/Command$/, ''), input: structuredClone(args.input) as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'countCalls' },
    );
  };
  return { calls, customizeClient, of: (operation: string) => calls.filter((c) => c.operation === operation) };
};

/** Rewrites the input of one operation before it is sent (and recorded by countCalls). */
export const rewriteInput = (operation: string, rewrite: (input: Record<string, unknown>) => void) => (client: AnyClient) => {
  (client.middlewareStack as MiddlewareStack<object, object>).add(
    (next, context) => async (args) => {
      if (context.commandName === `${operation}Command`) rewrite(args.input as Record<string, unknown>);
      return next(args);
    },
    { step: 'initialize', name: `rewrite${operation}`, priority: 'high' },
  );
};

/**
 * Makes one operation answer like a service that loops: every answer carries the same
 * NextToken, and the token sent back is dropped before it reaches moto (which would
 * refuse a token it never gave).
 */
export const loopingPages = (operation: string, token = 'the-same-token') => (client: AnyClient) => {
  (client.middlewareStack as MiddlewareStack<object, object>).add(
    (next, context) => async (args) => {
      if (context.commandName !== `${operation}Command`) return next(args);
      const input = args.input as Record<string, unknown>;
      delete input.NextToken;
      const result = await next(args);
      (result.output as Record<string, unknown>).NextToken = token;
      return result;
    },
    { step: 'initialize', name: `loop${operation}`, priority: 'low' },
  );
};

/** Changes one operation's answer after the real call, e.g. to show what AWS shows and moto does not. */
export const rewriteOutput = (operation: string, rewrite: (output: Record<string, unknown>) => void) => (client: AnyClient) => {
  (client.middlewareStack as MiddlewareStack<object, object>).add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === `${operation}Command`) rewrite(result.output as Record<string, unknown>);
      return result;
    },
    { step: 'initialize', name: `rewriteOutput${operation}`, priority: 'low' },
  );
};

/** Answers one operation without calling moto: for calls moto does not serve, or answers it never gives. */
export const answer = (operation: string, respond: (input: Record<string, unknown>) => Record<string, unknown>) => (client: AnyClient) => {
  (client.middlewareStack as MiddlewareStack<object, object>).add(
    (next, context) => async (args) => {
      if (context.commandName !== `${operation}Command`) return next(args);
      return { output: { $metadata: {}, ...respond(args.input as Record<string, unknown>) }, response: {} };
    },
    // Innermost, so that call counting and other middleware still see the call.
    { step: 'initialize', name: `answer${operation}`, priority: 'low' },
  );
};

// Counts every SDK call by operation, through middleware on each client (as the tests do).
import type { MiddlewareStack } from '@smithy/types';
import type { AnyClient } from '../functions/app/compose.ts';

export interface CallCounter {
  byOperation: Map<string, number>;
  total(): number;
  customizeClient(client: AnyClient): void;
}

export const countCalls = (): CallCounter => {
  const byOperation = new Map<string, number>();
  return {
    byOperation,
    total: () => [...byOperation.values()].reduce((a, b) => a + b, 0),
    // The initialize step runs once per send(), before retries: one count per API call made by the code.
    customizeClient: (client) => {
      (client.middlewareStack as MiddlewareStack<object, object>).add(
        (next, context) => async (args) => {
          const operation = String(context.commandName).replace(/Command$/, '');
          byOperation.set(operation, (byOperation.get(operation) ?? 0) + 1);
          return next(args);
        },
        { step: 'initialize', name: 'benchCountCalls' },
      );
    },
  };
};

export const sortedCounts = (byOperation: Map<string, number>): Record<string, number> =>
  Object.fromEntries([...byOperation.entries()].sort(([a], [b]) => a.localeCompare(b)));

// PLACEHOLDER so that `osls package` has an entry for the on-instance-event function.
// Issue 4 replaces this file with the real handler; until then every event fails and,
// after the rule's retries, lands in the dead-letter queue (nothing is dropped silently).
export const handler = async (): Promise<never> => {
  throw new Error('on-instance-event is not implemented yet (issue 4)');
};

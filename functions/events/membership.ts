// Which accounts an event may act in: the ACTIVE accounts of the organization. The list is
// read through the organization port and kept for a bounded time, so that a busy event
// function does not list the organization for every event.
import type { OrganizationPort } from '../sweep/ports.ts';

/** How long a listing of the organization is trusted before it is read again. */
export const MEMBERS_TTL_MS = 5 * 60_000;
/**
 * An account missing from a listing younger than this is not looked up again: an account that
 * joined a moment ago waits at most this long, and a flood of events from outside the
 * organization costs at most one listing this often.
 */
export const MISS_REREAD_MS = 60_000;

export class ActiveAccounts {
  #accounts: Promise<ReadonlySet<string>> | undefined;
  #readAt = -Infinity;

  constructor(
    private readonly org: Pick<OrganizationPort, 'listActiveAccounts'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the account is an ACTIVE account of the organization. Throws when the organization cannot be read. */
  async has(accountId: string): Promise<boolean> {
    if (this.#accounts === undefined || this.now() - this.#readAt >= MEMBERS_TTL_MS) this.#read();
    if ((await this.#current()).has(accountId)) return true;
    if (this.now() - this.#readAt < MISS_REREAD_MS) return false;
    this.#read();
    return (await this.#current()).has(accountId);
  }

  #current(): Promise<ReadonlySet<string>> {
    return this.#accounts ?? Promise.resolve(new Set<string>());
  }

  #read(): void {
    this.#readAt = this.now();
    const reading = this.org.listActiveAccounts().then((accounts) => new Set(accounts.map((a) => a.id)));
    // A failed listing is not kept: the next event reads the organization again.
    reading.catch(() => {
      if (this.#accounts === reading) {
        this.#accounts = undefined;
        this.#readAt = -Infinity;
      }
    });
    this.#accounts = reading;
  }
}

// One cache per organization port: the port lives as long as the world the composition root
// built, which is one run of the CLI or one Lambda container.
const caches = new WeakMap<object, ActiveAccounts>();

export const activeAccountsOf = (org: OrganizationPort): ActiveAccounts => {
  let cache = caches.get(org);
  if (!cache) {
    cache = new ActiveAccounts(org);
    caches.set(org, cache);
  }
  return cache;
};

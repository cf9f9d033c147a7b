// Every paged AWS listing goes through the SDK's paginator and through this bound: an answer
// that repeats its NextToken, or pages without end, must fail the listing, never loop or
// hand back a partial list as if it were complete.
import { IncompleteListingError } from '../domain/errors.ts';

export async function* boundedPages<Page extends { NextToken?: string | undefined }>(
  pages: AsyncIterable<Page>,
  what: string,
  maxPages: number,
): AsyncGenerator<Page> {
  const seen = new Set<string>();
  let count = 0;
  for await (const page of pages) {
    count += 1;
    if (count > maxPages) throw new IncompleteListingError(`${what}: more than ${maxPages} pages, stopped`);
    yield page;
    const token = page.NextToken;
    if (token === undefined || token === '') continue;
    if (seen.has(token)) throw new IncompleteListingError(`${what}: the service repeated a page token, stopped after ${count} pages`);
    seen.add(token);
  }
}

// Every paged AWS listing goes through the SDK's paginator and through this bound.
import { OutOfTimeError, PaginationError } from '../domain/errors.ts';

/**
 * Passes an SDK paginator's pages through, and ends the read with a PaginationError when
 * an answer gives a NextToken the read has already followed, or when a page still has a
 * NextToken at the cap. The SDK's paginator follows any token it is given, so a service
 * (or a proxy) that repeats one would otherwise be called without end. With `timeUp`, the
 * read also ends with an OutOfTimeError before it asks for another page once time is up, so
 * that a Lambda stops reading while it still has the time to say so.
 */
export async function* boundedPages<P extends { NextToken?: string | undefined }>(
  operation: string,
  pages: AsyncIterable<P>,
  maxPages: number,
  timeUp?: () => boolean,
): AsyncGenerator<P, void, undefined> {
  const followed = new Set<string>();
  let count = 0;
  for await (const page of pages) {
    count += 1;
    const token = page.NextToken;
    if (token !== undefined && token !== '') {
      if (followed.has(token)) throw new PaginationError(operation, 'repeated-token', count);
      if (count >= maxPages) throw new PaginationError(operation, 'page-cap', count);
      followed.add(token);
    }
    yield page;
    // The consumer has taken this page; the paginator asks for the next one only after this point.
    if (token !== undefined && token !== '' && timeUp?.()) throw new OutOfTimeError(operation, count);
  }
}

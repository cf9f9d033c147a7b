// The Distributed Map's results as its ResultWriter leaves them in S3: a manifest that names
// SUCCEEDED_n / FAILED_n / PENDING_n files, each an array of child executions whose Input and
// Output are JSON texts. Read here, at the edge, into the digests the report sums.
import { InputError } from '../domain/errors.ts';
import type { FailedShard } from '../report/aggregate.ts';
import type { ShardDigest } from '../report/digest.ts';
import type { Shard } from '../domain/model.ts';
import type { JsonStore } from '../sweep/ports.ts';
import {
  digestSchema,
  mapRunEntriesSchema,
  mapRunManifestSchema,
  parseEvent,
  shardEventSchema,
  type MapFailure,
  type MapRunEntry,
  type MapRunResult,
} from './step-payloads.ts';

export interface MapRunOutcome {
  digests: ShardDigest[];
  /** Shards that failed, timed out, returned no readable digest, or never ran. */
  failed: FailedShard[];
}

const parseJson = (text: string | null | undefined): unknown => {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** The item the child ran on (the Map's ItemSelector output: `{ shard, apply }`). */
const shardOf = (entry: MapRunEntry): Shard | undefined => {
  const input = shardEventSchema.safeParse(parseJson(entry.Input));
  return input.success ? { accountId: input.data.shard.accountId, region: input.data.shard.region } : undefined;
};

/** Lambda's error payload (`{"errorType","errorMessage",…}`) in a Cause, shortened to its type and message; any other Cause is shown as it is. */
export const describeCause = (error: string, cause: string | null | undefined): string => {
  if (!cause) return '';
  const payload = parseJson(cause);
  if (payload && typeof payload === 'object' && 'errorMessage' in payload) {
    const { errorType, errorMessage } = payload as { errorType?: unknown; errorMessage?: unknown };
    const type = typeof errorType === 'string' && errorType !== error ? `${errorType}: ` : '';
    return `: ${type}${String(errorMessage)}`;
  }
  return `: ${cause}`;
};

const failure = (entry: MapRunEntry): FailedShard => {
  const error = entry.Error ?? 'unknown error';
  return {
    shard: shardOf(entry),
    message: `shard execution ${(entry.Status ?? 'failed').toLowerCase().replace(/_/g, ' ')}: ${error}${describeCause(error, entry.Cause)}`,
  };
};

export const readMapRun = async (store: JsonStore, result: MapRunResult): Promise<MapRunOutcome> => {
  const { Bucket, Key } = result.ResultWriterDetails;
  if (Bucket !== store.bucket) {
    throw new InputError(`results.ResultWriterDetails.Bucket: ${Bucket} is not the sweep bucket (${store.bucket})`);
  }
  const manifest = parseEvent(mapRunManifestSchema, await store.getJson(Key), `Map Run manifest (${Key})`);
  const entries = async (key: string) => parseEvent(mapRunEntriesSchema, await store.getJson(key), `Map Run result file (${key})`);

  const outcome: MapRunOutcome = { digests: [], failed: [] };
  for (const file of manifest.ResultFiles.SUCCEEDED) {
    for (const entry of await entries(file.Key)) {
      const digest = digestSchema.safeParse(parseJson(entry.Output));
      if (digest.success) outcome.digests.push(digest.data);
      else outcome.failed.push({ shard: shardOf(entry), message: 'shard execution succeeded but returned no readable digest' });
    }
  }
  for (const file of manifest.ResultFiles.FAILED) {
    for (const entry of await entries(file.Key)) outcome.failed.push(failure(entry));
  }
  for (const file of manifest.ResultFiles.PENDING) {
    for (const entry of await entries(file.Key)) {
      outcome.failed.push({ shard: shardOf(entry), message: 'not swept: the Map Run ended before this shard started' });
    }
  }
  return outcome;
};

/** The Catch path: the Map itself failed, and what its shards did is not known here. */
export const failedMapRun = (failure: MapFailure): MapRunOutcome => ({
  digests: [],
  failed: [{ shard: undefined, message: `the sweep's Distributed Map failed: ${failure.Error}${failure.Cause ? `: ${failure.Cause}` : ''}` }],
});

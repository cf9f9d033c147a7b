import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { LeaseRecord, LeaseStore, StoredLease } from '../pipeline/ports.ts';

/**
 * What sweep-shard and on-instance-event need on the sweep bucket's `leases/` prefix
 * (serverless.yml scopes them to it). Conditional writes are PutObject with `If-None-Match`
 * or `If-Match`, which need no other action; nothing is deleted.
 */
export const S3_LEASE_IAM_ACTIONS = ['s3:GetObject', 's3:PutObject'] as const;

// S3 answers 412 when the condition does not hold, and 409 when another conditional write
// to the same key was under way at the same moment: either way, another writer came first.
const LOST_RACE = new Set(['PreconditionFailed', 'ConditionalRequestConflict']);
const lostRace = (error: unknown) =>
  error instanceof Error && (LOST_RACE.has(error.name) || LOST_RACE.has(String((error as { Code?: unknown }).Code ?? '')));

const leaseSchema = z.object({
  holder: z.string().min(1).max(300),
  takenAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  releasedAt: z.iso.datetime().optional(),
});

/** Leases as small JSON objects in one bucket; each write is conditional on what the writer last saw. */
export class S3LeaseStore implements LeaseStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  create(key: string, record: LeaseRecord): Promise<string | undefined> {
    return this.#put(key, record, { IfNoneMatch: '*' });
  }

  replace(key: string, record: LeaseRecord, version: string): Promise<string | undefined> {
    return this.#put(key, record, { IfMatch: version });
  }

  async read(key: string): Promise<StoredLease | undefined> {
    let out;
    try {
      out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
    const text = (await out.Body?.transformToString('utf8')) ?? '';
    if (!out.ETag) throw new Error(`s3://${this.bucket}/${key} was read without an ETag: it cannot be replaced conditionally`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { record: undefined, version: out.ETag };
    }
    const record = leaseSchema.safeParse(parsed);
    return { record: record.success ? record.data : undefined, version: out.ETag };
  }

  async #put(key: string, record: LeaseRecord, condition: { IfNoneMatch: string } | { IfMatch: string }): Promise<string | undefined> {
    try {
      const out = await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: JSON.stringify(record), ContentType: 'application/json', ...condition }),
      );
      if (!out.ETag) throw new Error(`s3://${this.bucket}/${key} was written without an ETag: it cannot be released conditionally`);
      return out.ETag;
    } catch (error) {
      if (lostRace(error)) return undefined;
      throw error;
    }
  }
}

import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../domain/errors.ts';
import type { JsonStore } from '../sweep/ports.ts';

/**
 * The central functions' rights on the sweep bucket (serverless.yml scopes each to its prefix):
 * sweep-plan writes the Map's items, sweep-report reads the Map's results.
 */
export const S3_IAM_ACTIONS = ['s3:PutObject', 's3:GetObject'] as const;

/** JSON documents in one bucket (the sweep's own, in the central account). */
export class S3JsonStore implements JsonStore {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async putJson(key: string, value: unknown): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: JSON.stringify(value), ContentType: 'application/json' }),
    );
  }

  async getJson(key: string): Promise<unknown> {
    let text: string;
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (error instanceof NoSuchKey) throw new InputError(`s3://${this.bucket}/${key} does not exist`, { cause: error });
      throw error;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new InputError(`s3://${this.bucket}/${key} is not JSON`, { cause: error });
    }
  }
}

// Step Functions' side of the sweep's Distributed Map, for tests: moto cannot run Lambda tasks
// (no Docker here), so this reads the Map's settings from infra/central/sweep.yml itself, reads
// the items from S3 as its ItemReader does, runs each through the shard function as a child
// execution would, and writes the results as its ResultWriter does (the format of
// test/fixtures/map-run/). A handler that drifts from the definition fails here.
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readYamlTemplate } from './cfn.ts';

interface MapState {
  ItemReader: { Resource: string; ReaderConfig: { InputType: string }; Parameters: Record<string, string> };
  ItemSelector: Record<string, string>;
  ResultWriter: { Resource: string; Parameters: { Prefix: string } };
}

const sweepStates = (): Record<string, unknown> => {
  const machine = readYamlTemplate('infra/central/sweep.yml').Resources.SweepStateMachine;
  return (machine?.Properties.Definition as unknown as { States: Record<string, unknown> }).States;
};

export const sweepMapState = (): MapState => sweepStates().Shards as MapState;

/** `$.a.b` against the state, `$$.Map.Item.Value` the item: the two paths the definition uses. */
const resolve = (path: string, state: unknown, item: unknown): unknown => {
  if (path === '$$.Map.Item.Value') return item;
  if (!path.startsWith('$.')) throw new Error(`the test Map does not resolve ${path}`);
  return path
    .slice(2)
    .split('.')
    .reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), state);
};

const select = (template: Record<string, string>, state: unknown, item: unknown) =>
  Object.fromEntries(
    Object.entries(template).map(([key, value]) => (key.endsWith('.$') ? [key.slice(0, -2), resolve(value, state, item)] : [key, value])),
  );

/** The Payload that the definition's lambda:invoke Task state `name` builds from its input `state`. */
export const taskPayload = (name: string, state: unknown): Record<string, unknown> => {
  const task = sweepStates()[name] as { Parameters?: { Payload?: Record<string, string> } } | undefined;
  if (!task?.Parameters?.Payload) throw new Error(`the sweep's definition has no Task state ${name} with a Payload`);
  return select(task.Parameters.Payload, state, undefined);
};

export interface MapRunOptions {
  /** The sweep bucket (the definition's ${SweepBucket}). */
  bucket: string;
  /** The Map state's input: the plan's output. */
  state: unknown;
  /** One child execution: the shard function. */
  runItem(input: unknown): Promise<unknown>;
  /** Items from this index on are never started (a Map Run that failed or was stopped). */
  stopAt?: number;
}

export interface MapRun {
  MapRunArn: string;
  ResultWriterDetails: { Bucket: string; Key: string };
}

export const runDistributedMap = async ({ bucket, state, runItem, stopAt = Infinity }: MapRunOptions): Promise<MapRun> => {
  const map = sweepMapState();
  const s3 = new S3Client({});
  if (map.ItemReader.Resource !== 'arn:aws:states:::s3:getObject' || map.ItemReader.ReaderConfig.InputType !== 'JSON') {
    throw new Error('the test Map reads only a JSON array from S3');
  }
  const { Parameters: reader } = map.ItemReader;
  const key = reader['Key.$'] ? resolve(reader['Key.$'], state, undefined) : reader.Key;
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: String(key) }));
  const items = JSON.parse((await object.Body?.transformToString()) ?? 'null') as unknown[];
  if (!Array.isArray(items)) throw new Error(`s3://${bucket}/${String(key)} does not hold a JSON array`);

  const runId = randomUUID();
  const machine = 'arn:aws:states:us-east-1:123456789012:stateMachine:imds-remediator-test-sweep';
  const mapRunArn = `arn:aws:states:us-east-1:123456789012:mapRun:imds-remediator-test-sweep/Shards:${runId}`;
  const files: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', Array<Record<string, unknown>>> = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  for (const [n, item] of items.entries()) {
    const input = JSON.stringify(select(map.ItemSelector, state, item));
    const name = randomUUID();
    const common = {
      ExecutionArn: `arn:aws:states:us-east-1:123456789012:execution:imds-remediator-test-sweep/Shards:${name}`,
      Input: input,
      InputDetails: { Included: true },
      Name: name,
      StateMachineArn: machine,
      RedriveCount: 0,
    };
    if (n >= stopAt) {
      files.PENDING.push({ ...common, Status: 'PENDING' });
      continue;
    }
    try {
      // Input and output cross the state as JSON, as in a child execution.
      const output = await runItem(JSON.parse(input));
      files.SUCCEEDED.push({ ...common, Output: JSON.stringify(output), OutputDetails: { Included: true }, Status: 'SUCCEEDED' });
    } catch (error) {
      // lambda:invoke fails the child with the function's error type, and its error payload as Cause.
      const e = error instanceof Error ? error : new Error(String(error));
      const cause = JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: [] });
      files.FAILED.push({ ...common, Status: 'FAILED', Error: e.name, Cause: cause });
    }
  }

  const prefix = `${map.ResultWriter.Parameters.Prefix}/${runId}`;
  const manifest = { DestinationBucket: bucket, MapRunArn: mapRunArn, ResultFiles: { FAILED: [], PENDING: [], SUCCEEDED: [] } as Record<string, unknown[]> };
  for (const [status, entries] of Object.entries(files)) {
    if (entries.length === 0) continue;
    const body = JSON.stringify(entries);
    const fileKey = `${prefix}/${status}_0.json`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: fileKey, Body: body }));
    manifest.ResultFiles[status]?.push({ Key: fileKey, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${prefix}/manifest.json`;
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: JSON.stringify(manifest) }));
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: bucket, Key: manifestKey } };
};

// Step Functions' side of the sweep's Distributed Map, for tests: moto cannot run Lambda tasks
// (no Docker here), so this reads the Map's settings from infra/central/sweep.yml itself, reads
// the items from S3 as its ItemReader does, runs each child execution through the states of the
// Map's ItemProcessor (its Task, Choice and Pass states, as written there) with the shard
// function as the Task's Lambda, and writes the results as its ResultWriter does (the format of
// test/fixtures/map-run/). A handler that drifts from the definition fails here.
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readYamlTemplate } from './cfn.ts';

/** The states a child execution of the Map uses, with the fields the definition sets. */
interface ChildState {
  Type: 'Task' | 'Choice' | 'Pass';
  Resource?: string;
  Parameters?: Record<string, string>;
  ResultSelector?: Record<string, string>;
  ResultPath?: string;
  OutputPath?: string;
  Choices?: Array<{ Variable: string; BooleanEquals: boolean; Next: string }>;
  Default?: string;
  Next?: string;
  End?: boolean;
}

interface MapState {
  ItemReader: { Resource: string; ReaderConfig: { InputType: string }; Parameters: Record<string, string> };
  ItemSelector: Record<string, string>;
  ItemProcessor: { StartAt: string; States: Record<string, ChildState> };
  ResultWriter: { Resource: string; Parameters: { Prefix: string } };
}

const sweepStates = (): Record<string, unknown> => {
  const machine = readYamlTemplate('infra/central/sweep.yml').Resources.SweepStateMachine;
  return (machine?.Properties.Definition as unknown as { States: Record<string, unknown> }).States;
};

export const sweepMapState = (): MapState => sweepStates().Shards as MapState;

/** `$`, `$.a.b` against the state, `$$.Map.Item.Value` the item: the paths the definition uses. */
const resolve = (path: string, state: unknown, item: unknown): unknown => {
  if (path === '$$.Map.Item.Value') return item;
  if (path === '$') return state;
  if (!path.startsWith('$.')) throw new Error(`the test Map does not resolve ${path}`);
  return path
    .slice(2)
    .split('.')
    .reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), state);
};

/** A path that Step Functions would fail on when it finds nothing (States.Runtime). */
const required = (path: string, state: unknown): unknown => {
  const value = resolve(path, state, undefined);
  if (value === undefined) throw Object.assign(new Error(`Invalid path '${path}': the input has no such field`), { name: 'States.Runtime' });
  return value;
};

/** ResultPath `$.x` puts the result beside the input; no ResultPath replaces the input. */
const placeResult = (state: unknown, path: string | undefined, result: unknown): unknown => {
  if (path === undefined || path === '$') return result;
  if (!/^\$\.\w+$/.test(path)) throw new Error(`the test Map places results only at $.name, not ${path}`);
  return { ...(state as Record<string, unknown>), [path.slice(2)]: result };
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

/** Child executions stop after this many states: a loop that never ends is a failed test, not a hung one. */
const MAX_TRANSITIONS = 1_000;

/**
 * One child execution: the ItemProcessor's states from StartAt, the Task invoking `runItem` as
 * the shard function (lambda:invoke answers { Payload }), until a state ends it. Its output is
 * the last state's, as ResultWriter records it; a failed Task (or path) fails the child.
 */
const runChild = async (processor: MapState['ItemProcessor'], input: unknown, runItem: (input: unknown) => Promise<unknown>): Promise<unknown> => {
  let state = input;
  let name = processor.StartAt;
  for (let transitions = 0; transitions < MAX_TRANSITIONS; transitions++) {
    const step = processor.States[name];
    if (!step) throw new Error(`the ItemProcessor has no state ${name}`);
    let output: unknown;
    switch (step.Type) {
      case 'Task': {
        if (step.Resource !== 'arn:aws:states:::lambda:invoke' || step.Parameters?.FunctionName !== '${SweepShardArn}') {
          throw new Error(`the test Map runs only sweep-shard's lambda:invoke, not ${name}`);
        }
        const payload = JSON.parse(JSON.stringify(required(step.Parameters['Payload.$'] ?? '$', state))) as unknown;
        // The Payload crosses the state as JSON, as in a real invocation.
        const answer = { Payload: JSON.parse(JSON.stringify((await runItem(payload)) ?? null)) as unknown, StatusCode: 200 };
        const selected = step.ResultSelector ? select(step.ResultSelector, answer, undefined) : answer;
        output = placeResult(state, step.ResultPath, selected);
        break;
      }
      case 'Choice': {
        const choice = step.Choices?.find((c) => {
          const value = required(c.Variable, state);
          if (typeof value !== 'boolean') throw Object.assign(new Error(`${c.Variable} is not a boolean`), { name: 'States.Runtime' });
          return value === c.BooleanEquals;
        });
        const next = choice?.Next ?? step.Default;
        if (!next) throw Object.assign(new Error(`no choice matched in ${name}`), { name: 'States.NoChoiceMatched' });
        name = next;
        continue;
      }
      case 'Pass':
        output = step.Parameters ? select(step.Parameters, state, undefined) : state;
        break;
    }
    output = step.OutputPath ? required(step.OutputPath, output) : output;
    if (step.End) return output;
    if (!step.Next) throw new Error(`state ${name} neither ends nor has a Next`);
    state = output;
    name = step.Next;
  }
  throw Object.assign(new Error(`the child execution passed ${MAX_TRANSITIONS} states`), { name: 'States.Runtime' });
};

export interface MapRunOptions {
  /** The sweep bucket (the definition's ${SweepBucket}). */
  bucket: string;
  /** The Map state's input: the plan's output. */
  state: unknown;
  /** The shard function, invoked by the child execution's Task state (as often as the child loops). */
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
      const output = await runChild(map.ItemProcessor, JSON.parse(input), runItem);
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

/**
 * The record of a distributed pre-computation job: `<cache>/jobs/<stage>.json`, created
 * atomically by the first worker (exclusive link of a complete temporary file, so concurrent
 * first workers agree on one record), holding the number of workers, the worker command (without
 * its `--shard`) and the key and identity of every store the stage fills. Every later worker,
 * and `train`, is checked against it: another worker count, or stores with other keys (other
 * data, models or options), are refused with what differs and how to start a fresh job.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseJson } from '../data/parse-json.js';
import { checkJson } from '../data/json-schema.js';
import type { RowStore } from './row-store.js';
import type { WorkerShard } from './worker-shard.js';

/** One store of a job. */
export interface JobStore {
  /** What the store holds, for messages (e.g. `features (train)`). */
  name: string;
  /** Its folder name under the cache folder. */
  folder: string;
  key: string;
  numShards: number;
  identity: unknown;
}

/** The job record. */
export interface JobRecord {
  format: typeof FORMAT;
  version: number;
  stage: string;
  workers: number;
  /** The worker command's arguments after `salf-cbm precompute`, without `--shard`/`--shard-count`/`--stage`. */
  command: string[];
  stores: JobStore[];
  createdAt: string;
}

const FORMAT = 'salf-cbm.precompute-job';
const VERSION = 1;

const recordSchema: z.ZodType<JobRecord> = z.looseObject({
  format: z.literal(FORMAT),
  version: z.number(),
  stage: z.string(),
  workers: z.number().int().positive(),
  command: z.array(z.string()),
  stores: z.array(z.looseObject({ name: z.string(), folder: z.string(), key: z.string(), numShards: z.number().int().nonnegative(), identity: z.unknown() })),
  createdAt: z.string(),
});

/** A store as the job record lists it. */
export function jobStore(name: string, store: RowStore): JobStore {
  return { name, folder: store.dir.split(/[\\/]/).pop()!, key: store.manifest.key, numShards: store.numShards, identity: store.manifest.identity };
}

/** Where the record of `stage` lives. */
export function jobRecordPath(cacheDir: string, stage: string): string {
  return join(resolve(cacheDir), 'jobs', `${stage}.json`);
}

/** The record of `stage`, if a job was started in `cacheDir`. */
export function readJobRecord(cacheDir: string, stage: string): JobRecord | undefined {
  const path = jobRecordPath(cacheDir, stage);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot read the job record (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const r = parseJson(text, path) as { format?: unknown; version?: unknown } | null;
  if (r?.format !== FORMAT || r.version !== VERSION) throw new Error(`${path}: not a salf-cbm job record of version ${VERSION}`);
  return checkJson(r, recordSchema, path, 'job record');
}

/**
 * Joins the job of `stage`: creates its record when this is the first worker, else checks that
 * this worker agrees with it (worker count, store keys); returns the record.
 */
export function joinJob(cacheDir: string, stage: string, worker: WorkerShard, stores: readonly JobStore[], command: readonly string[]): JobRecord {
  const path = jobRecordPath(cacheDir, stage);
  const mine: JobRecord = {
    format: FORMAT,
    version: VERSION,
    stage,
    workers: worker.count,
    command: [...command],
    stores: [...stores],
    createdAt: new Date().toISOString(),
  };
  createExclusive(path, JSON.stringify(mine, null, 2) + '\n');
  const record = readJobRecord(cacheDir, stage)!;
  if (record.workers !== worker.count) {
    throw new Error(
      `${path}: this job runs with ${record.workers} worker(s), but this worker is ${worker.source} (${worker.count} workers). ` +
        `All workers of one job must use the same count; to start a fresh job with ${worker.count} workers, delete ${path} (stored shards are kept and reused)`,
    );
  }
  checkStores(record, stores, path);
  return record;
}

/** Throws, saying what differs, when `stores` are not the stores of `record`. */
export function checkStores(record: JobRecord, stores: readonly JobStore[], path: string): void {
  const problems: string[] = [];
  for (const s of stores) {
    const r = record.stores.find((x) => x.name === s.name);
    if (!r) problems.push(`${s.name}: not part of the job (it has ${record.stores.map((x) => x.name).join(', ')})`);
    else if (r.key !== s.key) problems.push(`${s.name}: ${differences(r.identity, s.identity).join(', ') || 'row count or shard size'} differ`);
  }
  for (const r of record.stores) if (!stores.some((s) => s.name === r.name)) problems.push(`${r.name}: missing here`);
  if (problems.length === 0) return;
  throw new Error(
    `${path}: the stores of this run differ from those of the job started as \`salf-cbm precompute ${shellJoin(record.command)} --stage ${record.stage}\` (${problems.join('; ')}). ` +
      `Run every worker with the same data, models and options, or start a fresh job: delete ${path} (stores no longer needed can be deleted from ${join(path, '..', '..')})`,
  );
}

/** Dotted names of the values that differ between two JSON values (at most 6). */
function differences(a: unknown, b: unknown, at = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(a) || !isObj(b)) return [at || 'identity'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => differences(a[k], b[k], at ? `${at}.${k}` : k)).slice(0, 6);
}

/** Arguments joined for a shell, quoted where needed. */
export function shellJoin(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Writes `path` with `text` unless it exists (then leaves it); never a partial file under `path`. */
function createExclusive(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.tmp-${hostname()}-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w');
  try {
    const bytes = Buffer.from(text, 'utf8');
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new Error(`${path}: cannot create the job record (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    unlinkSync(tmp);
  }
}

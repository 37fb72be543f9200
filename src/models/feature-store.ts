/**
 * Backbone features (and logits) of a list of images in a row store (src/store/row-store.ts):
 * row r is samples[r]; field `F` holds its G×D channels-last feature grid (float16 by default,
 * float32 as an option), field `logits` its L backbone logits (float32) when the backbone names
 * a logits tensor. Images that cannot be decoded (with `skipBad`) are zero rows listed in their
 * shard's meta as `skipped`. The store's identity is the backbone file (absolute path, size,
 * mtime), its config, the grid and the image list (absolute paths, sizes, mtimes), so any change
 * selects a fresh store.
 *
 * Computed shard by shard, each shard atomically; a worker (`--shard i/N`, see
 * src/store/worker-shard.ts) computes only its block of shards, and shards already stored, by
 * this or any other process, are kept (resume). Batches never span shards, so the stored bytes
 * do not depend on how the shards were divided among workers.
 */
import { resolve } from 'node:path';
import { silentProgress, type Progress } from '../progress.js';
import { fileIdentity } from '../store/fingerprint.js';
import { asFloat32, RowStore, type BeforeShardCommit, type FieldSpec, type RowStoreSpec, type StoreDtype } from '../store/row-store.js';
import { shardsOfWorker, type WorkerShard } from '../store/worker-shard.js';
import type { Backbone } from './backbone.js';
import { runBackbone } from './backbone-runs.js';

/** Features of the images that decoded, aligned with `samples`. */
export interface FeatureSet<S> {
  /** n×G×D channels-last grid features. */
  F: Float32Array;
  /** n×L backbone logits, when the backbone names a logits tensor. */
  logits?: Float32Array;
  samples: S[];
  skipped: { path: string; reason: string }[];
}

/** An image that could not be decoded: a zero row. */
export interface SkippedRow {
  row: number;
  path: string;
  reason: string;
}

/** How a feature store is laid out. */
export interface FeatureStoreLayout {
  /** How `F` is stored: float16 (default) or float32. */
  dtype?: StoreDtype;
  /** Images per shard; 64 by default. */
  shardSize?: number;
}

/** Options of {@link computeFeatureStore}. */
export interface FeatureStoreOptions extends FeatureStoreLayout {
  /** Folder holding the stores. */
  cacheDir: string;
  /** Images per backbone run; 32 by default. Batches never span shards. */
  batchSize?: number;
  /** Store undecodable images as skipped zero rows instead of failing. */
  skipBad?: boolean;
  progress?: Progress;
  /** Name of the stage in progress reports. */
  label?: string;
  /** Compute only this worker's block of shards; the whole store by default. */
  worker?: WorkerShard;
  /** Test hook, see {@link BeforeShardCommit}. */
  beforeShardCommit?: BeforeShardCommit;
}

/** The row-store spec of the features of `samples` (nothing is read but file sizes and times). */
export function featureStoreSpec(backbone: Backbone, samples: readonly { path: string }[], layout: FeatureStoreLayout = {}): RowStoreSpec {
  if (samples.length === 0) throw new Error('feature store: the image list is empty');
  const model = resolve(backbone.config.model);
  const fields: FieldSpec[] = [{ name: 'F', shape: [backbone.gridSize, backbone.featureDim], dtype: layout.dtype ?? 'float16' }];
  if (backbone.numClasses !== undefined) fields.push({ name: 'logits', shape: [backbone.numClasses], dtype: 'float32' });
  return {
    kind: 'features',
    identity: {
      backboneFile: fileIdentity([model]),
      config: { ...backbone.config, model },
      grid: backbone.grid,
      images: fileIdentity(samples.map((s) => s.path)),
    },
    numRows: samples.length,
    shardSize: layout.shardSize ?? 64,
    fields,
  };
}

/** A feature store with the samples its rows belong to. */
export class FeatureStore<S extends { path: string }> {
  constructor(
    readonly store: RowStore,
    readonly samples: readonly S[],
  ) {
    if (store.numRows !== samples.length) throw new Error(`${store.dir}: holds ${store.numRows} rows but ${samples.length} samples were given`);
  }

  /** Opens (creating if needed) the store of `samples` under `cacheDir`; computes nothing. */
  static open<S extends { path: string }>(backbone: Backbone, samples: readonly S[], cacheDir: string, layout: FeatureStoreLayout = {}): FeatureStore<S> {
    return new FeatureStore(RowStore.open(cacheDir, featureStoreSpec(backbone, samples, layout)), samples);
  }

  get dir(): string {
    return this.store.dir;
  }

  /** Whether the store holds backbone logits. */
  get hasLogits(): boolean {
    return this.store.fields.some((f) => f.name === 'logits');
  }

  get complete(): boolean {
    return this.store.complete;
  }

  missingShards(): number[] {
    return this.store.missingShards();
  }

  /** Images that could not be decoded, from the metas of `shards` (every shard by default; all must be stored). */
  skipped(shards: readonly number[] = Array.from({ length: this.store.numShards }, (_, s) => s)): SkippedRow[] {
    return shards.flatMap((s) => skippedOf(this.store, s));
  }

  /** Rows of images that decoded, ascending (every shard must be stored). */
  kept(): number[] {
    this.requireComplete();
    const bad = new Set(this.skipped().map((s) => s.row));
    return Array.from({ length: this.store.numRows }, (_, r) => r).filter((r) => !bad.has(r));
  }

  /** Features of `rows`, rows.length×G×D float32 (float16 decoded). */
  readFeatures(rows: readonly number[]): Float32Array {
    return asFloat32(this.store.readRows('F', rows));
  }

  /** Logits of `rows`, rows.length×L, when the store holds them. */
  readLogits(rows: readonly number[]): Float32Array | undefined {
    return this.hasLogits ? asFloat32(this.store.readRows('logits', rows)) : undefined;
  }

  /** The images that decoded, in memory (for small sets). */
  featureSet(): FeatureSet<S> {
    const kept = this.kept();
    return {
      F: this.readFeatures(kept),
      logits: this.readLogits(kept),
      samples: kept.map((r) => this.samples[r]!),
      skipped: this.skipped().map(({ path, reason }) => ({ path, reason })),
    };
  }

  private requireComplete(): void {
    const missing = this.store.missingShards();
    if (missing.length > 0)
      throw new Error(
        `${this.store.dir}: ${missing.length} of ${this.store.numShards} feature shards are missing (shards ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''})`,
      );
  }
}

/**
 * Computes the missing shards of the feature store of `samples` (only the worker's block when
 * `worker` is given) and returns the store (see the module comment).
 */
export async function computeFeatureStore<S extends { path: string }>(
  backbone: Backbone,
  samples: readonly S[],
  options: FeatureStoreOptions,
): Promise<FeatureStore<S>> {
  const progress = options.progress ?? silentProgress;
  const label = options.label ?? 'backbone features';
  const result = FeatureStore.open(backbone, samples, options.cacheDir, options);
  const store = result.store;
  const { first, end } = shardsOfWorker(options.worker ?? { index: 0, count: 1, source: 'single process' }, store.numShards);
  const mine = Array.from({ length: end - first }, (_, i) => first + i);
  const todo = mine.filter((s) => !store.isComplete(s));
  const rowsOf = (shards: readonly number[]): number => shards.reduce((a, s) => a + store.shardRange(s).count, 0);
  if (todo.length === 0) {
    progress.log(`${label}: reusing ${rowsOf(mine) - result.skipped(mine).length} cached feature maps`);
    return result;
  }
  const GD = backbone.gridSize * backbone.featureDim;
  const L = backbone.numClasses;
  const batchSize = options.batchSize ?? 32;
  let done = rowsOf(mine) - rowsOf(todo);
  progress.start(label, rowsOf(mine));
  progress.update(done);
  try {
    for (const s of todo) {
      const { first: r0, count } = store.shardRange(s);
      const F = new Float32Array(count * GD);
      const logits = L !== undefined ? new Float32Array(count * L) : undefined;
      const skipped: SkippedRow[] = [];
      for await (const batch of runBackbone(backbone, samples.slice(r0, r0 + count), { batchSize, skipBad: options.skipBad })) {
        for (const x of batch.skipped) {
          skipped.push({ row: r0 + x.index, path: x.path, reason: x.reason });
          progress.log(`skipped ${x.path}: ${x.reason}`);
        }
        batch.rows.forEach((row, j) => {
          F.set(batch.features.subarray(j * GD, (j + 1) * GD), row * GD);
          if (logits && batch.logits) logits.set(batch.logits.subarray(j * L!, (j + 1) * L!), row * L!);
        });
        progress.update(done + batch.done);
      }
      store.writeShard(s, { F, ...(logits ? { logits } : {}) }, { skipped }, options.beforeShardCommit);
      done += count;
    }
  } finally {
    progress.stop();
  }
  return result;
}

function skippedOf(store: RowStore, s: number): SkippedRow[] {
  const list = store.readMeta(s).skipped;
  return Array.isArray(list) ? (list as SkippedRow[]) : [];
}

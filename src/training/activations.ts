/**
 * Pooled concept activations for every image of a feature store, in chunks (SPEC step 4, at
 * scale): concept maps C = F·W_cᵀ (G×M per image) and their spatial pooling to one activation
 * per concept, written to an activations row store (float32, M per row). Nothing grows with the
 * number of images: one source shard, one chunk of rows on its way through ONNX Runtime and one
 * output shard are in memory at a time, the chunk sized from the memory budget.
 *
 * The graph is the SALF-CBM head's concept layer and pooling (`buildPoolModel`, salf-head.ts),
 * preceded by a Cast when the features are stored as float16 (decoding float16 is exact, so the
 * values equal those of the float32 path). The output store is keyed by the feature store, the rows, W_c and the
 * pooling, so a finished store is reused and an interrupted run resumes at its first missing
 * shard.
 */
import { createHash } from 'node:crypto';
import { Engine, getDefaultEngine, dataF32, ort } from '../engine/session.js';
import { buildPoolModel, type Pooling } from '../models/salf-head.js';
import { arraysIdentity } from '../store/fingerprint.js';
import { RowStore, type ShardContent } from '../store/row-store.js';
import { parseMemoryBudget, rowsFor, usableBytes } from './memory-budget.js';

/** The field of an activations store: M pooled activations per row, float32. */
export const ACTIVATIONS_FIELD = 'activations';

/** Rows per ONNX Runtime run at most: past this, larger chunks only cost memory. */
export const MAX_CHUNK_ROWS = 256;

/** Options of {@link poolActivationsToStore}. */
export interface PoolActivationsOptions {
  /** The feature store: per row, channels-last grid features [G, D] (float16 or float32). */
  features: RowStore;
  /** Its field holding the features; `F` (the feature store's, src/models/feature-store.ts). */
  field?: string;
  /** The store rows to pool (ascending, distinct; e.g. the images kept); all by default. Output row i is rows[i]. */
  rows?: readonly number[];
  /** Concept layer W_c, M×D row-major. */
  conceptWeight: Float32Array;
  M: number;
  pooling: Pooling;
  /** Folder under which the activations store is created (as RowStore.open's root). */
  outRoot: string;
  /** Anything else naming the content, added to the store's identity; null. */
  identity?: unknown;
  /** Rows per output shard; 2048. */
  shardSize?: number;
  /** Bytes, or a size such as '4GiB' (memory-budget.ts); the default budget when omitted. */
  memoryBudget?: number | string;
  /** Rows per ONNX Runtime run, instead of the budget's choice. */
  chunkRows?: number;
  engine?: Engine;
  /** Called after every output shard: rows done (including those found stored) of the total. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/**
 * Bytes one row needs while it goes through ONNX Runtime: the gathered stored row, its float32
 * copy (the Cast, float16 only), the maps in both layouts (MatMul's G×M and its transpose) and,
 * for softmax, the weights and their product.
 */
export function poolBytesPerRow(G: number, D: number, M: number, dtype: 'float16' | 'float32', pooling: Pooling): number {
  const stored = G * D * (dtype === 'float16' ? 2 : 4);
  const cast = dtype === 'float16' ? G * D * 4 : 0;
  const maps = G * M * 4 * (pooling === 'softmax' ? 4 : 2);
  return stored + cast + maps + M * 4;
}

/**
 * Pools the features of `rows` (all rows by default) into an activations store (see the module
 * comment) and returns it, complete. Shards already stored are kept.
 */
export async function poolActivationsToStore(opts: PoolActivationsOptions): Promise<RowStore> {
  const { features, M, pooling } = opts;
  const field = opts.field ?? 'F';
  const spec = features.field(field);
  if (spec.shape.length !== 2) throw new Error(`pooled activations: field '${field}' of ${features.dir} has shape [${spec.shape.join(', ')}], expected [G, D]`);
  const [G, D] = spec.shape as [number, number];
  if (!Number.isInteger(M) || M < 1 || opts.conceptWeight.length !== M * D) {
    throw new Error(`pooled activations: W_c has ${opts.conceptWeight.length} values, expected M×D = ${M}×${D}`);
  }
  const rows = opts.rows;
  if (rows) {
    if (rows.length === 0) throw new Error('pooled activations: no rows');
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (!Number.isInteger(r) || r < 0 || r >= features.numRows) throw new Error(`pooled activations: row ${r} outside 0..${features.numRows - 1}`);
      if (i > 0 && r <= rows[i - 1]!) throw new Error(`pooled activations: rows must be ascending and distinct (${rows[i - 1]} then ${r})`);
    }
  }
  const K = rows ? rows.length : features.numRows;
  const source = (i: number): number => (rows ? rows[i]! : i);
  const shardSize = opts.shardSize ?? 2048;
  const rowsKey = rows ? createHash('sha256').update(Int32Array.from(rows)).digest('hex') : 'all';
  const wcKey = arraysIdentity([opts.conceptWeight]);
  const out = RowStore.open(opts.outRoot, {
    kind: 'activations',
    identity: { features: features.manifest.key, field, rows: rowsKey, conceptWeight: wcKey, pooling, extra: opts.identity ?? null },
    numRows: K,
    shardSize,
    fields: [{ name: ACTIVATIONS_FIELD, shape: [M], dtype: 'float32' }],
  });

  const budget = parseMemoryBudget(opts.memoryBudget);
  const perRow = poolBytesPerRow(G, D, M, spec.dtype, pooling);
  const sourceShardBytes = features.payloadBytes(features.shardSize);
  const chunkRows = opts.chunkRows ?? rowsFor(usableBytes(budget) / 2, perRow, { fixedBytes: sourceShardBytes + shardSize * M * 4, max: MAX_CHUNK_ROWS });
  if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`pooled activations: chunkRows must be a positive integer, got ${chunkRows}`);

  const engine = opts.engine ?? getDefaultEngine();
  const session = await engine.cached(`pool-activations:${pooling}:${spec.dtype}:${G}x${D}x${M}:${wcKey}`, () =>
    buildPoolModel({ G, D, M }, opts.conceptWeight, pooling, spec.dtype),
  );
  const rowLen = G * D;
  const gather = spec.dtype === 'float16' ? new Uint16Array(chunkRows * rowLen) : new Float32Array(chunkRows * rowLen);
  let loaded: ShardContent | undefined;
  let done = 0;
  for (let o = 0; o < out.numShards; o++) {
    const { first, count } = out.shardRange(o);
    if (out.isComplete(o)) {
      done += count;
      opts.onProgress?.({ done, total: K });
      continue;
    }
    const values = new Float32Array(count * M);
    for (let c0 = 0; c0 < count; c0 += chunkRows) {
      const k = Math.min(chunkRows, count - c0);
      for (let j = 0; j < k; j++) {
        const r = source(first + c0 + j);
        const s = features.shardOf(r);
        if (loaded?.shard !== s) {
          // eslint-disable-next-line no-useless-assignment -- lets the previous shard be collected before the next is read
          loaded = undefined;
          loaded = features.readShard(s);
        }
        const within = r - loaded.first;
        gather.set(loaded.raw[field]!.subarray(within * rowLen, (within + 1) * rowLen), j * rowLen);
      }
      const view = gather.subarray(0, k * rowLen);
      const input =
        spec.dtype === 'float16' ? new ort.Tensor('float16', view as Uint16Array, [k, G, D]) : new ort.Tensor('float32', view as Float32Array, [k, G, D]);
      const res = await session.run({ features: input });
      values.set(dataF32(res.activations!, 'activations'), c0 * M);
    }
    out.writeShard(o, { [ACTIVATIONS_FIELD]: values }, { sourceRows: [source(first), source(first + count - 1)] });
    done += count;
    opts.onProgress?.({ done, total: K });
  }
  return out;
}

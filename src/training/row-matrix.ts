/**
 * An N×M float32 matrix read in blocks of consecutive rows, so that the stages after pooling
 * (standardisation, GLM-SAGA) can work on more rows than memory holds. A block is what is cheap
 * to read at once: a shard of a {@link RowStore}, or a range of an in-memory array.
 *
 * - {@link arrayMatrix}: an in-memory array (blocks are views, nothing copied);
 * - {@link storeMatrix}: one field of a row store, all rows or a subset (e.g. the training
 *   split's rows of an activations store), one block per shard;
 * - {@link forEachRows}: visits the rows in order in chunks of exactly `chunkRows` (the last one
 *   shorter), whatever the block sizes, so that a streamed pass can reproduce an in-memory pass
 *   chunk for chunk.
 */
import { asFloat32, type RowStore } from '../store/row-store.js';

/** Rows [first, first + count) of a matrix. */
export interface RowBlock {
  first: number;
  count: number;
}

/** An N×M float32 matrix read in blocks (see the module comment). */
export interface RowMatrix {
  readonly n: number;
  readonly m: number;
  /** Consecutive, non-empty, covering 0..n−1 in order. */
  readonly blocks: readonly RowBlock[];
  /** The rows of block `b`, count×m row-major; callers must not modify them. */
  readBlock(b: number): Float32Array;
}

/** Whether `x` is a {@link RowMatrix} (rather than an in-memory Float32Array). */
export function isRowMatrix(x: unknown): x is RowMatrix {
  return typeof (x as RowMatrix | undefined)?.readBlock === 'function';
}

function positive(who: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${name} must be a positive integer, got ${v}`);
}

/** Blocks of `size` rows (the last shorter) over n rows. */
export function evenBlocks(n: number, size: number): RowBlock[] {
  positive('evenBlocks', 'size', size);
  const out: RowBlock[] = [];
  for (let first = 0; first < n; first += size) out.push({ first, count: Math.min(size, n - first) });
  return out;
}

/** An in-memory n×m array as a matrix with blocks of `blockRows` rows (one block by default). */
export function arrayMatrix(X: Float32Array, n: number, m: number, blockRows = n): RowMatrix {
  positive('arrayMatrix', 'n', n);
  positive('arrayMatrix', 'm', m);
  if (X.length !== n * m) throw new Error(`arrayMatrix: ${X.length} values for ${n}×${m}`);
  const blocks = evenBlocks(n, blockRows);
  return { n, m, blocks, readBlock: (b) => X.subarray(blocks[b]!.first * m, (blocks[b]!.first + blocks[b]!.count) * m) };
}

/**
 * Field `field` of `store` (per-row length m; float32 or float16, read as float32) as a matrix:
 * all rows, or the given `rows` (ascending, distinct store rows) in that order. One block per
 * shard that holds any of the rows; reading a block reads that shard once (checksum verified
 * the first time in this process).
 */
export function storeMatrix(store: RowStore, field: string, rows?: readonly number[]): RowMatrix {
  const m = store.fieldLength(field);
  if (rows) {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (!Number.isInteger(r) || r < 0 || r >= store.numRows) throw new Error(`storeMatrix: row ${r} outside 0..${store.numRows - 1} of ${store.dir}`);
      if (i > 0 && r <= rows[i - 1]!) throw new Error(`storeMatrix: rows must be ascending and distinct (${rows[i - 1]} then ${r})`);
    }
    if (rows.length === 0) throw new Error('storeMatrix: no rows');
  }
  // Per block: the shard and, for a subset, the positions of its rows within the shard.
  const blocks: RowBlock[] = [];
  const shardOf: number[] = [];
  const within: (Int32Array | undefined)[] = [];
  if (!rows) {
    for (let s = 0; s < store.numShards; s++) {
      blocks.push({ first: s * store.shardSize, count: store.shardRange(s).count });
      shardOf.push(s);
      within.push(undefined);
    }
  } else {
    let i = 0;
    while (i < rows.length) {
      const s = store.shardOf(rows[i]!);
      const { first, count } = store.shardRange(s);
      let j = i;
      while (j < rows.length && rows[j]! < first + count) j++;
      blocks.push({ first: i, count: j - i });
      shardOf.push(s);
      within.push(j - i === count ? undefined : Int32Array.from(rows.slice(i, j), (r) => r - first));
      i = j;
    }
  }
  const n = rows ? rows.length : store.numRows;
  return {
    n,
    m,
    blocks,
    readBlock(b) {
      const values = asFloat32(store.readShard(shardOf[b]!).raw[field]!);
      const pick = within[b];
      if (!pick) return values;
      const out = new Float32Array(pick.length * m);
      for (let i = 0; i < pick.length; i++) out.set(values.subarray(pick[i]! * m, (pick[i]! + 1) * m), i * m);
      return out;
    },
  };
}

/**
 * Visits the rows of `matrix` in order in chunks of exactly `chunkRows` rows (the last one
 * shorter): `visit(X, first, k)` with X k×m. A chunk inside one block is a view of it; others are
 * assembled in one buffer reused across chunks (so X must not be kept after `visit` resolves).
 * Memory: one block and one chunk.
 */
export async function forEachRows(
  matrix: RowMatrix,
  chunkRows: number,
  visit: (X: Float32Array, first: number, k: number) => Promise<void> | void,
): Promise<void> {
  positive('forEachRows', 'chunkRows', chunkRows);
  const { n, m } = matrix;
  let buf: Float32Array | undefined;
  let filled = 0; // rows in buf
  let first = 0; // first row of the chunk being assembled
  for (let b = 0; b < matrix.blocks.length; b++) {
    const X = matrix.readBlock(b);
    const count = matrix.blocks[b]!.count;
    let at = 0;
    while (at < count) {
      const want = Math.min(chunkRows, n - first);
      if (filled === 0 && count - at >= want) {
        await visit(X.subarray(at * m, (at + want) * m), first, want);
        at += want;
        first += want;
        continue;
      }
      buf ??= new Float32Array(Math.min(chunkRows, n) * m);
      const take = Math.min(want - filled, count - at);
      buf.set(X.subarray(at * m, (at + take) * m), filled * m);
      filled += take;
      at += take;
      if (filled === want) {
        await visit(buf.subarray(0, want * m), first, want);
        first += want;
        filled = 0;
      }
    }
  }
  if (filled > 0 || first !== n) throw new Error(`forEachRows: the blocks hold ${first + filled} rows, expected ${n}`);
}

/** The whole matrix in memory, n×m. */
export function loadMatrix(matrix: RowMatrix): Float32Array {
  const out = new Float32Array(matrix.n * matrix.m);
  for (let b = 0; b < matrix.blocks.length; b++) out.set(matrix.readBlock(b), matrix.blocks[b]!.first * matrix.m);
  return out;
}

/**
 * Where GLM-SAGA's mini-batches and its SAGA memory come from (glm-saga.ts).
 *
 * Batches, one epoch at a time:
 * - {@link memoryBatches}: X in memory. `shuffle` draws one permutation of 0..N−1 per epoch
 *   (`rng.permutation(N)`); `sequential` takes rows 0..N−1 in order. Batches of `batchSize`
 *   rows, the last one shorter.
 * - {@link streamedBatches}: X read in blocks (a RowMatrix, e.g. the shards of an activations
 *   store), a window of blocks at a time. `shuffle` is a *block shuffle*: per epoch the blocks
 *   are visited in a seeded random order (`rng.permutation(#blocks)`), consecutive blocks of that
 *   order are loaded together as a window of at most `windowRows` rows (at least one block), and
 *   the window's rows are visited in a seeded random order (`rng.permutation(rows in window)`).
 *   This is not the in-memory permutation (rows of one window stay together within an epoch),
 *   so the iterates differ from the in-memory path's, while the solution they converge to is the
 *   same. `sequential` visits blocks and rows in order and gives exactly the in-memory batches.
 *   In both orders batches hold exactly `batchSize` rows (the last of the epoch shorter): a batch
 *   started in one window is completed from the next. Memory: one window, one block and one batch.
 *
 * The SAGA memory table (one value per example and class, N×L): {@link memoryTable} keeps it in
 * a Float32Array; {@link diskTable} keeps it in a scratch file (float32, row-major) and reads and
 * writes the rows of each batch with positioned reads and writes (one L-value row per example;
 * the page cache absorbs them), for N·L past the memory budget. The file is deleted by
 * `dispose()`.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rng } from '../rng.js';
import type { RowMatrix } from './row-matrix.js';

/** One mini-batch: B rows of X (B×M), their labels and their example indices; valid until the next batch. */
export interface SagaBatch {
  X: Float32Array;
  y: Int32Array;
  idx: Int32Array;
  B: number;
}

/** The batches of one epoch of an in-memory X (see the module comment). */
export function* memoryBatches(X: Float32Array, y: Int32Array, M: number, batchSize: number, order: 'shuffle' | 'sequential', rng: Rng): Generator<SagaBatch> {
  const N = y.length;
  const perm = order === 'shuffle' ? rng.permutation(N) : Int32Array.from({ length: N }, (_, i) => i);
  const cap = Math.min(batchSize, N);
  const xBuf = new Float32Array(cap * M);
  const yBuf = new Int32Array(cap);
  for (let start = 0; start < N; start += batchSize) {
    const end = Math.min(N, start + batchSize);
    const B = end - start;
    const idx = perm.subarray(start, end);
    if (order === 'sequential') {
      yield { X: X.subarray(start * M, end * M), y: y.subarray(start, end), idx, B };
      continue;
    }
    for (let i = 0; i < B; i++) {
      const n = idx[i]!;
      xBuf.set(X.subarray(n * M, (n + 1) * M), i * M);
      yBuf[i] = y[n]!;
    }
    yield { X: xBuf.subarray(0, B * M), y: yBuf.subarray(0, B), idx, B };
  }
}

/** Groups of consecutive entries of `order` (block indices) holding at most `windowRows` rows each (at least one block). */
export function windows(matrix: RowMatrix, order: ArrayLike<number>, windowRows: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let rows = 0;
  for (let i = 0; i < order.length; i++) {
    const b = order[i]!;
    const count = matrix.blocks[b]!.count;
    if (cur.length > 0 && rows + count > windowRows) {
      out.push(cur);
      cur = [];
      rows = 0;
    }
    cur.push(b);
    rows += count;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** The batches of one epoch of a streamed X (see the module comment). */
export function* streamedBatches(
  matrix: RowMatrix,
  y: Int32Array,
  batchSize: number,
  order: 'shuffle' | 'sequential',
  rng: Rng,
  windowRows: number,
): Generator<SagaBatch> {
  const { n: N, m: M } = matrix;
  const nb = matrix.blocks.length;
  const blockOrder = order === 'shuffle' ? rng.permutation(nb) : Int32Array.from({ length: nb }, (_, i) => i);
  const cap = Math.min(batchSize, N);
  const xBuf = new Float32Array(cap * M);
  const yBuf = new Int32Array(cap);
  const iBuf = new Int32Array(cap);
  let filled = 0;
  let emitted = 0;
  for (const win of windows(matrix, blockOrder, windowRows)) {
    // The window's rows, and the example index of each.
    const wRows = win.reduce((a, b) => a + matrix.blocks[b]!.count, 0);
    const Xw = win.length === 1 ? matrix.readBlock(win[0]!) : new Float32Array(wRows * M);
    const firstOf = new Int32Array(wRows);
    let at = 0;
    for (const b of win) {
      const { first, count } = matrix.blocks[b]!;
      if (win.length > 1) Xw.set(matrix.readBlock(b), at * M);
      for (let j = 0; j < count; j++) firstOf[at + j] = first + j;
      at += count;
    }
    const within = order === 'shuffle' ? rng.permutation(wRows) : undefined;
    for (let j = 0; j < wRows; j++) {
      const r = within ? within[j]! : j;
      const n = firstOf[r]!;
      xBuf.set(Xw.subarray(r * M, (r + 1) * M), filled * M);
      yBuf[filled] = y[n]!;
      iBuf[filled] = n;
      filled += 1;
      if (filled === Math.min(batchSize, N - emitted)) {
        yield { X: xBuf.subarray(0, filled * M), y: yBuf.subarray(0, filled), idx: iBuf.subarray(0, filled), B: filled };
        emitted += filled;
        filled = 0;
      }
    }
  }
  if (emitted !== N || filled !== 0) throw new Error(`glmSaga: the blocks held ${emitted + filled} rows, expected ${N}`);
}

/** The SAGA memory: one L-value row per example (see the module comment). */
export interface SagaTable {
  readonly kind: 'memory' | 'disk';
  /** Rows idx[0..B) into out (B×L). */
  read(idx: Int32Array, B: number, out: Float32Array): void;
  /** A (B×L) into rows idx[0..B). */
  write(idx: Int32Array, B: number, A: Float32Array): void;
  dispose(): void;
}

/** The table in memory, zeros at the start. */
export function memoryTable(N: number, L: number): SagaTable {
  const t = new Float32Array(N * L);
  return {
    kind: 'memory',
    read(idx, B, out) {
      for (let i = 0; i < B; i++) out.set(t.subarray(idx[i]! * L, (idx[i]! + 1) * L), i * L);
    },
    write(idx, B, A) {
      for (let i = 0; i < B; i++) t.set(A.subarray(i * L, (i + 1) * L), idx[i]! * L);
    },
    dispose() {},
  };
}

/** The table in a scratch file under `dir` (the OS's temporary folder by default), zeros at the start. */
export function diskTable(N: number, L: number, dir = tmpdir()): SagaTable {
  const folder = mkdtempSync(join(dir, 'salf-saga-table-'));
  const path = join(folder, 'table.f32');
  let fd: number | undefined;
  try {
    fd = openSync(path, 'w+');
    ftruncateSync(fd, N * L * 4); // sparse: reads as zeros
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(folder, { recursive: true, force: true });
    throw new Error(`${path}: cannot create the SAGA table scratch file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const row = L * 4;
  const file = fd;
  let open = true;
  return {
    kind: 'disk',
    read(idx, B, out) {
      const bytes = new Uint8Array(out.buffer, out.byteOffset, B * row);
      for (let i = 0; i < B; i++) {
        let got = 0;
        while (got < row) {
          const k = readSync(file, bytes, i * row + got, row - got, idx[i]! * row + got);
          if (k === 0) throw new Error(`${path}: the SAGA table file is shorter than expected`);
          got += k;
        }
      }
    },
    write(idx, B, A) {
      const bytes = new Uint8Array(A.buffer, A.byteOffset, B * row);
      for (let i = 0; i < B; i++) {
        let put = 0;
        while (put < row) put += writeSync(file, bytes, i * row + put, row - put, idx[i]! * row + put);
      }
    },
    dispose() {
      if (!open) return;
      open = false;
      closeSync(file);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

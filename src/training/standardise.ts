/**
 * The per-concept standardisation that precedes the final layer (SPEC step 4): its statistics
 * fitted on pooled activations (N×M), in memory or from a matrix streamed in blocks
 * (fitStandardiserStreamed) with the same result, and applied, in plain JS. (Pooling itself is
 * the head's: `models/salf-head.ts`, with its plain TypeScript reference in `web/core/classify.ts`.)
 */
import type { RowMatrix } from './row-matrix.js';

/** Per-concept training statistics, each of length M. */
export interface Standardiser {
  mean: Float32Array;
  std: Float32Array;
}

function checkShape(what: string, X: ArrayLike<number>, dims: number[]): void {
  for (const d of dims) if (!Number.isInteger(d) || d < 1) throw new Error(`${what}: dimensions must be positive integers, got [${dims.join(', ')}]`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (X.length !== n) throw new Error(`${what}: ${X.length} values for [${dims.join(' × ')}] (expected ${n})`);
}

/**
 * Mean and standard deviation of every column of X (N×M) over the N training samples, as
 * LF-CBM's `train_c.mean(dim=0)` and `train_c.std(dim=0)`: the standard deviation is the
 * unbiased one (divisor N − 1), torch's default. Accumulated in float64. A constant concept
 * (std 0) gets std 1, so standardising centres it to 0 instead of producing NaN.
 */
export function fitStandardiser(X: Float32Array, N: number, M: number): Standardiser {
  checkShape('fitStandardiser', X, [N, M]);
  if (N < 2) throw new Error('fitStandardiser: needs at least 2 samples for an unbiased standard deviation');
  const sum = new Float64Array(M);
  addColumnSums(X, N, M, sum);
  const mean = columnMeans(sum, N);
  const sq = new Float64Array(M);
  addSquaredDeviations(X, N, M, mean, sq);
  return finishStandardiser(mean, sq, N);
}

/** `matrix` with every row standardised as it is read ((x − mean)/std, as applyStandardiser). */
export function standardisedMatrix(matrix: RowMatrix, s: Standardiser): RowMatrix {
  const { n, m, blocks } = matrix;
  return { n, m, blocks, readBlock: (b) => applyStandardiser(matrix.readBlock(b), blocks[b]!.count, m, s) };
}

/**
 * {@link fitStandardiser} of a matrix read in blocks (e.g. pooled activations in a row store),
 * in two passes (sums, then squared deviations from the mean), each adding the rows in the same
 * order as the in-memory version: the result is bit-for-bit the same. Memory: one block.
 */
export function fitStandardiserStreamed(matrix: RowMatrix): Standardiser {
  const { n: N, m: M } = matrix;
  if (N < 2) throw new Error('fitStandardiser: needs at least 2 samples for an unbiased standard deviation');
  const sum = new Float64Array(M);
  for (let b = 0; b < matrix.blocks.length; b++) addColumnSums(matrix.readBlock(b), matrix.blocks[b]!.count, M, sum);
  const mean = columnMeans(sum, N);
  const sq = new Float64Array(M);
  for (let b = 0; b < matrix.blocks.length; b++) addSquaredDeviations(matrix.readBlock(b), matrix.blocks[b]!.count, M, mean, sq);
  return finishStandardiser(mean, sq, N);
}

function addColumnSums(X: Float32Array, N: number, M: number, sum: Float64Array): void {
  for (let n = 0; n < N; n++) {
    const row = n * M;
    for (let m = 0; m < M; m++) sum[m]! += X[row + m]!;
  }
}

function columnMeans(sum: Float64Array, N: number): Float64Array {
  const mean = new Float64Array(sum.length);
  for (let m = 0; m < sum.length; m++) mean[m] = sum[m]! / N;
  return mean;
}

function addSquaredDeviations(X: Float32Array, N: number, M: number, mean: Float64Array, sq: Float64Array): void {
  for (let n = 0; n < N; n++) {
    const row = n * M;
    for (let m = 0; m < M; m++) {
      const d = X[row + m]! - mean[m]!;
      sq[m]! += d * d;
    }
  }
}

function finishStandardiser(mean: Float64Array, sq: Float64Array, N: number): Standardiser {
  const M = mean.length;
  const std = new Float32Array(M);
  for (let m = 0; m < M; m++) {
    const s = Math.fround(Math.sqrt(sq[m]! / (N - 1)));
    std[m] = s > 0 ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/** (X − mean) / std for every row of X (N×M); a new array unless `out` is given. */
export function applyStandardiser(X: Float32Array, N: number, M: number, s: Standardiser, out = new Float32Array(N * M)): Float32Array {
  checkShape('applyStandardiser', X, [N, M]);
  if (s.mean.length !== M || s.std.length !== M)
    throw new Error(`applyStandardiser: statistics have ${s.mean.length}/${s.std.length} values for ${M} concepts`);
  if (out.length !== N * M) throw new Error(`applyStandardiser: output has ${out.length} values, expected ${N * M}`);
  for (let n = 0; n < N; n++) {
    const row = n * M;
    for (let m = 0; m < M; m++) out[row + m] = (X[row + m]! - s.mean[m]!) / s.std[m]!;
  }
  return out;
}

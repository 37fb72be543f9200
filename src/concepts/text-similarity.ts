/**
 * Step 1b's similarity computations (the filters' inputs, filter.ts): the text similarity of
 * concepts and class names (CLIP's text tower alone, or (sentence + 3 × CLIP)/4 when a sentence
 * model is given, LF-CBM: all-mpnet-base-v2; both are cosines of unit vectors, so the mix is one
 * matrix product of the concatenated embeddings [½·s, (√3/2)·c]), the largest similarity of each
 * row to another set, and the rows of a concept list's own similarity matrix. Every similarity
 * matrix is computed in small ONNX graphs, in blocks that bound memory.
 */
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { Engine, dataF32, f32, getDefaultEngine, type ort } from '../engine/session.js';
import type { TextEncoder } from '../models/encoders.js';

/** Weights of the text similarity mix when a sentence model is given (LF-CBM: 1 and 3). */
export const MIX_WEIGHTS = { sentence: 1 / 4, clip: 3 / 4 } as const;

/** Largest similarity block held at once (floats). */
const BLOCK = 1 << 22;

/** Encoders of the text similarity: CLIP's text tower, plus a sentence model when given. */
export interface TextSimilarityModel {
  clip: TextEncoder;
  sentence?: TextEncoder;
}

/** What the text similarity measures, in words. */
export function textMeasure(model: TextSimilarityModel): string {
  return model.sentence ? 'text similarity (sentence + 3 × CLIP)/4' : 'text similarity (CLIP text tower)';
}

/**
 * Embeddings whose dot products are the text similarity: CLIP's unit vectors, or
 * [½·sentence, (√3/2)·CLIP] with a sentence model (so a·b = (s·s' + 3 c·c')/4).
 */
export async function similarityEmbeddings(model: TextSimilarityModel, texts: readonly string[]): Promise<{ data: Float32Array; dim: number }> {
  const c = await model.clip.encodeTexts(texts);
  const Ec = model.clip.embedDim;
  if (c.length !== texts.length * Ec) throw new Error(`CLIP text encoder returned ${c.length} values for ${texts.length} texts of width ${Ec}`);
  if (!model.sentence) return { data: c, dim: Ec };
  const s = await model.sentence.encodeTexts(texts);
  const Es = model.sentence.embedDim;
  if (s.length !== texts.length * Es) throw new Error(`sentence model returned ${s.length} values for ${texts.length} texts of width ${Es}`);
  const dim = Es + Ec;
  const out = new Float32Array(texts.length * dim);
  const ws = Math.sqrt(MIX_WEIGHTS.sentence);
  const wc = Math.sqrt(MIX_WEIGHTS.clip);
  for (let i = 0; i < texts.length; i++) {
    for (let j = 0; j < Es; j++) out[i * dim + j] = ws * s[i * Es + j]!;
    for (let j = 0; j < Ec; j++) out[i * dim + Es + j] = wc * c[i * Ec + j]!;
  }
  return { data: out, dim };
}

/**
 * For each of the `m` rows of A (m×E): the largest dot product with the rows of B (n×E) and the
 * first row of B reaching it.
 */
export async function maxSimilarity(
  A: Float32Array,
  m: number,
  B: Float32Array,
  n: number,
  E: number,
  engine: Engine = getDefaultEngine(),
): Promise<{ max: Float32Array; arg: Int32Array }> {
  checkShape(A, m, E, 'A');
  checkShape(B, n, E, 'B');
  const session = await engine.cached(`concepts.max-sim:E=${E}`, () => {
    const b = new GraphBuilder('concepts_max_similarity');
    const a = b.input('A', 'float32', ['m', E]);
    const bb = b.input('B', 'float32', ['n', E]);
    const s = b.op('Gemm', [a, bb], { transB: attr.i(1) });
    b.output(b.op('ReduceMax', [s], { axes: attr.ints([1]), keepdims: attr.i(0) }, 'max'), 'float32', ['m']);
    b.output(b.op('ArgMax', [s], { axis: attr.i(1), keepdims: attr.i(0), select_last_index: attr.i(0) }, 'arg'), 'int64', ['m']);
    return b.toBytes();
  });
  const max = new Float32Array(m);
  const arg = new Int32Array(m);
  if (m === 0 || n === 0) return { max: max.fill(-Infinity), arg: arg.fill(-1) };
  const Bt = f32(B, [n, E]);
  const rows = Math.max(1, Math.floor(BLOCK / n));
  for (let r0 = 0; r0 < m; r0 += rows) {
    const r = Math.min(rows, m - r0);
    const res = await session.run({ A: f32(A.subarray(r0 * E, (r0 + r) * E), [r, E]), B: Bt });
    max.set(dataF32(res.max as ort.Tensor, 'max'), r0);
    const idx = (res.arg as ort.Tensor).data as BigInt64Array;
    for (let i = 0; i < r; i++) arg[r0 + i] = Number(idx[i]!);
  }
  return { max, arg };
}

/**
 * Rows of X·Xᵀ (X: M×E) in blocks, plus the row sums of the whole matrix. A single block is
 * computed once and kept; larger matrices are recomputed block by block when scanned.
 */
export class SimilarityRows {
  private constructor(
    private readonly X: Float32Array,
    readonly M: number,
    private readonly E: number,
    private readonly session: ort.InferenceSession,
    readonly rowsPerBlock: number,
    readonly sums: Float32Array,
    private cache: { start: number; data: Float32Array } | undefined,
  ) {}

  /** Prepares the rows of X·Xᵀ and computes the row sums. */
  static async create(X: Float32Array, M: number, E: number, engine: Engine = getDefaultEngine()): Promise<SimilarityRows> {
    checkShape(X, M, E, 'X');
    const session = await engine.cached(`concepts.sim-rows:E=${E}`, () => {
      const b = new GraphBuilder('concepts_similarity_rows');
      const a = b.input('A', 'float32', ['b', E]);
      const x = b.input('X', 'float32', ['M', E]);
      const s = b.op('Gemm', [a, x], { transB: attr.i(1) }, 'S');
      b.output(s, 'float32', ['b', 'M']);
      b.output(b.op('ReduceSum', [s, b.constI64([1])], { keepdims: attr.i(0) }, 'sums'), 'float32', ['b']);
      return b.toBytes();
    });
    const rowsPerBlock = Math.max(1, Math.floor(BLOCK / Math.max(M, 1)));
    const sums = new Float32Array(M);
    const Xt = f32(X, [M, E]);
    let cache: { start: number; data: Float32Array } | undefined;
    for (let r0 = 0; r0 < M; r0 += rowsPerBlock) {
      const r = Math.min(rowsPerBlock, M - r0);
      const single = rowsPerBlock >= M;
      const res = await session.run({ A: f32(X.subarray(r0 * E, (r0 + r) * E), [r, E]), X: Xt }, single ? ['S', 'sums'] : ['sums']);
      sums.set(dataF32(res.sums as ort.Tensor, 'sums'), r0);
      if (single) cache = { start: 0, data: dataF32(res.S as ort.Tensor, 'similarities') };
    }
    return new SimilarityRows(X, M, E, session, rowsPerBlock, sums, cache);
  }

  /** Row i of X·Xᵀ (a view valid until the next call). */
  async row(i: number): Promise<Float32Array> {
    if (!(i >= 0 && i < this.M)) throw new Error(`SimilarityRows: row ${i} out of range (${this.M} rows)`);
    const start = Math.floor(i / this.rowsPerBlock) * this.rowsPerBlock;
    if (this.cache?.start !== start) {
      const r = Math.min(this.rowsPerBlock, this.M - start);
      const res = await this.session.run({ A: f32(this.X.subarray(start * this.E, (start + r) * this.E), [r, this.E]), X: f32(this.X, [this.M, this.E]) }, [
        'S',
      ]);
      this.cache = { start, data: dataF32(res.S as ort.Tensor, 'similarities') };
    }
    const o = (i - start) * this.M;
    return this.cache.data.subarray(o, o + this.M);
  }
}

/** Similarity rows from a full M×M matrix (tests, small lists). */
export function matrixRows(S: Float32Array, M: number): { M: number; sums: Float32Array; row(i: number): Promise<Float32Array> } {
  checkShape(S, M, M, 'S');
  const sums = new Float32Array(M);
  for (let i = 0; i < M; i++) {
    let s = 0;
    for (let j = 0; j < M; j++) s += S[i * M + j]!;
    sums[i] = s;
  }
  return { M, sums, row: async (i) => S.subarray(i * M, (i + 1) * M) };
}

/** Throws unless X holds rows×cols values. */
export function checkShape(X: Float32Array, rows: number, cols: number, what: string): void {
  if (X.length !== rows * cols) throw new Error(`${what}: ${X.length} values, expected ${rows}×${cols}`);
}

/**
 * Step 1b: Label-Free CBM's concept filters, in SPEC's order, each decision reported
 * (report.ts). Facts from LF-CBM's `conceptset_utils.py` and `train_cbm.py`:
 *
 * 1. length: dropped when longer than 30 characters (`len(concept) > 30`, code points);
 * 2. class similarity: first exact matches of a class name, bare or after `a `/`an `/`the `
 *    (LF-CBM compares a few case variants; here case-insensitively), then concepts whose text
 *    similarity to any class name is ≥ 0.85. LF-CBM's loop also skips the pair whose class index
 *    equals the concept index (`i != j`), an evident slip not reproduced here;
 * 3. near-duplicates: the concepts (sorted, as LF-CBM's class filter leaves them) are scanned
 *    pair by pair, row by row; a pair with similarity ≥ 0.9 whose members are both still present
 *    loses the one with the smaller summed similarity to all concepts (row sums of the whole
 *    matrix, diagonal included, computed once); on a tie the later one (j) goes;
 * 4. absent from the data: CLIP image–text similarity of every training image (whole image, no
 *    prompt) with every concept; a concept whose mean of its top-5 similarities is not above
 *    0.25 is dropped (LF-CBM keeps `top5 > clip_cutoff`).
 *
 * Text similarity is CLIP's text tower alone, or (sentence + 3 × CLIP)/4 when a sentence
 * model is given (LF-CBM: all-mpnet-base-v2). Both are cosines of unit vectors, so the mix is
 * one matrix product of the concatenated embeddings [½·s, (√3/2)·c]. Every similarity matrix is
 * computed in small ONNX graphs, in blocks that bound memory.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pipeline } from '@huggingface/transformers';
import { iterateBatches } from '../data/image-folder.js';
import { toChwNormalised } from '../data/image-io.js';
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { Engine, dataF32, f32, getDefaultEngine, ort, type Device, type ModelResource } from '../engine/session.js';
import type { ImageEncoder, TextEncoder } from '../models/encoders.js';
import { silentProgress, type Progress } from '../progress.js';
import { compareCodePoints } from './generate.js';
import { conceptReport, type ConceptReport, type DroppedConcept, type StageReport } from './report.js';

/** LF-CBM's defaults. */
export const FILTER_DEFAULTS = {
  maxLength: 30,
  classSimilarity: 0.85,
  duplicateSimilarity: 0.9,
  clipCutoff: 0.25,
  topK: 5,
} as const;

/** Weights of the text similarity mix when a sentence model is given (LF-CBM: 1 and 3). */
export const MIX_WEIGHTS = { sentence: 1 / 4, clip: 3 / 4 } as const;

/** Largest similarity block held at once (floats). */
const BLOCK = 1 << 22;

// ------------------------------------------------------------------------------------------
// Text similarity

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
export async function maxSimilarity(A: Float32Array, m: number, B: Float32Array, n: number, E: number, engine: Engine = getDefaultEngine()): Promise<{ max: Float32Array; arg: Int32Array }> {
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
      const res = await this.session.run({ A: f32(this.X.subarray(start * this.E, (start + r) * this.E), [r, this.E]), X: f32(this.X, [this.M, this.E]) }, ['S']);
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

// ------------------------------------------------------------------------------------------
// The four filters as decisions over given similarities

/** A filter's result: the survivors (in input order) and the stage's report. */
export interface StageResult {
  kept: string[];
  stage: StageReport;
}

/** Filter 1: drops concepts longer than `maxLength` characters (code points, like Python's `len`). */
export function dropTooLong(concepts: readonly string[], maxLength: number = FILTER_DEFAULTS.maxLength): StageResult {
  const kept: string[] = [];
  const dropped: DroppedConcept[] = [];
  for (const c of concepts) {
    const n = [...c].length;
    if (n <= maxLength) kept.push(c);
    else dropped.push({ concept: c, value: n });
  }
  return { kept, stage: { stage: 'length', rule: `dropped when longer than ${maxLength} characters`, threshold: maxLength, measure: 'characters', input: concepts.length, dropped } };
}

/** The concepts that spell a class name, bare or after `a `, `an ` or `the ` (case-insensitive): index → class. */
export function classNameMatches(concepts: readonly string[], classes: readonly string[]): Map<number, string> {
  const names = new Map<string, string>();
  for (const cls of classes) {
    const k = cls.trim().toLowerCase();
    for (const p of ['', 'a ', 'an ', 'the ']) if (!names.has(p + k)) names.set(p + k, cls);
  }
  const out = new Map<number, string>();
  concepts.forEach((c, i) => {
    const cls = names.get(c.trim().toLowerCase().replace(/\s+/g, ' '));
    if (cls !== undefined) out.set(i, cls);
  });
  return out;
}

/**
 * Filter 2: drops concepts that spell a class name, then those whose similarity to some class
 * is ≥ `cutoff`. `similarity(kept)` gives, for the concepts left after the text match, the
 * largest similarity to any class and that class's index.
 */
export async function dropSimilarToClasses(
  concepts: readonly string[],
  classes: readonly string[],
  similarity: (concepts: string[]) => Promise<{ max: Float32Array; arg: Int32Array }>,
  cutoff: number = FILTER_DEFAULTS.classSimilarity,
  measure = 'text similarity',
): Promise<StageResult> {
  const dropped: DroppedConcept[] = [];
  const textMatches = classNameMatches(concepts, classes);
  const rest: string[] = [];
  concepts.forEach((c, i) => {
    const cls = textMatches.get(i);
    if (cls !== undefined) dropped.push({ concept: c, value: 1, match: cls, note: 'text match' });
    else rest.push(c);
  });
  const kept: string[] = [];
  if (rest.length > 0) {
    const { max, arg } = await similarity(rest);
    const cut = Math.fround(cutoff); // similarities are float32: 0.85 in the matrix meets 0.85
    if (max.length !== rest.length || arg.length !== rest.length) throw new Error(`class similarity: ${max.length} values for ${rest.length} concepts`);
    rest.forEach((c, i) => {
      if (max[i]! >= cut) dropped.push({ concept: c, value: max[i]!, match: classes[arg[i]!] ?? `class #${arg[i]}` });
      else kept.push(c);
    });
  }
  return { kept, stage: { stage: 'class-similarity', rule: `dropped when it spells a class name or its similarity to a class name is ≥ ${cutoff}`, threshold: cutoff, measure, input: concepts.length, dropped } };
}

/**
 * Filter 3: LF-CBM's near-duplicate scan over `rows` (the similarity matrix of `concepts`, in
 * that order): for i, then j, a pair with similarity ≥ `cutoff` whose members are both present
 * loses i when its row sum is smaller than j's, else j.
 */
export async function dropNearDuplicates(
  concepts: readonly string[],
  rows: { M: number; sums: Float32Array; row(i: number): Promise<Float32Array> },
  cutoff: number = FILTER_DEFAULTS.duplicateSimilarity,
  measure = 'text similarity',
): Promise<StageResult> {
  const M = concepts.length;
  if (rows.M !== M || rows.sums.length !== M) throw new Error(`near-duplicates: similarity rows for ${rows.M} concepts, ${M} given`);
  const deleted = new Uint8Array(M);
  const dropped: DroppedConcept[] = [];
  const sums = rows.sums;
  const cut = Math.fround(cutoff);
  for (let i = 0; i < M; i++) {
    if (deleted[i]) continue;
    const r = await rows.row(i);
    for (let j = 0; j < M; j++) {
      if (j === i || deleted[j] || !(r[j]! >= cut)) continue;
      const [lose, keep] = sums[i]! < sums[j]! ? [i, j] : [j, i];
      deleted[lose] = 1;
      dropped.push({
        concept: concepts[lose]!,
        value: r[j]!,
        match: concepts[keep]!,
        note: `summed similarity ${sums[lose]!.toFixed(3)} ${sums[lose]! < sums[keep]! ? '<' : '='} ${sums[keep]!.toFixed(3)}`,
      });
      if (lose === i) break;
    }
  }
  const kept = concepts.filter((_, i) => !deleted[i]);
  return {
    kept,
    stage: { stage: 'near-duplicate', rule: `of two concepts with similarity ≥ ${cutoff}, dropped the one with the smaller summed similarity to all concepts`, threshold: cutoff, measure, input: M, dropped },
  };
}

/** Filter 4: drops concepts whose mean top-k image similarity `top` is not above `cutoff`. */
export function dropAbsent(concepts: readonly string[], top: Float32Array, cutoff: number = FILTER_DEFAULTS.clipCutoff, k: number = FILTER_DEFAULTS.topK, nImages?: number): StageResult {
  if (top.length !== concepts.length) throw new Error(`absent-from-data: ${top.length} values for ${concepts.length} concepts`);
  const kept: string[] = [];
  const dropped: DroppedConcept[] = [];
  const cut = Math.fround(cutoff);
  concepts.forEach((c, i) => {
    if (top[i]! > cut) kept.push(c);
    else dropped.push({ concept: c, value: top[i]! });
  });
  const over = nImages !== undefined ? ` over ${nImages} training images` : '';
  return {
    kept,
    stage: { stage: 'absent-from-data', rule: `dropped when the mean of its top-${k} CLIP image similarities is not above ${cutoff}`, threshold: cutoff, measure: `mean top-${k} CLIP image–text similarity${over}`, input: concepts.length, dropped },
  };
}

// ------------------------------------------------------------------------------------------
// Top-k image similarities, streamed over the images

/**
 * Running top-k of image–concept similarities: feed batches of normalised image embeddings,
 * read the per-concept mean of the k largest. Memory is k×M whatever the number of images.
 */
export class TopKSimilarity {
  private top: Float32Array;
  private seen = 0;
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly T: Float32Array,
    readonly M: number,
    readonly E: number,
    readonly k: number,
  ) {
    this.top = new Float32Array(k * M).fill(-Infinity);
  }

  /** `T`: the concepts' normalised CLIP text embeddings, M×E. */
  static async create(T: Float32Array, M: number, E: number, k: number = FILTER_DEFAULTS.topK, engine: Engine = getDefaultEngine()): Promise<TopKSimilarity> {
    checkShape(T, M, E, 'T');
    if (!Number.isInteger(k) || k < 1) throw new Error(`top-k: k must be a positive integer (got ${k})`);
    const session = await engine.cached(`concepts.topk-update:E=${E}:k=${k}`, () => {
      const b = new GraphBuilder('concepts_topk_update');
      const prev = b.input('prev', 'float32', [k, 'M']);
      const I = b.input('I', 'float32', ['n', E]);
      const t = b.input('T', 'float32', ['M', E]);
      const s = b.op('Gemm', [I, t], { transB: attr.i(1) });
      const cat = b.op('Concat', [prev, s], { axis: attr.i(0) });
      const [values] = b.node('TopK', [cat, b.constI64([k])], { axis: attr.i(0), largest: attr.i(1), sorted: attr.i(1) }, ['top', 'top_index']);
      b.output(values!, 'float32', [k, 'M']);
      return b.toBytes();
    });
    return new TopKSimilarity(session, T, M, E, k);
  }

  /** Adds `n` image embeddings (n×E, unit rows). */
  async add(I: Float32Array, n: number): Promise<void> {
    if (n === 0) return;
    checkShape(I.subarray(0, n * this.E), n, this.E, 'I');
    const res = await this.session.run({ prev: f32(this.top, [this.k, this.M]), I: f32(I.subarray(0, n * this.E), [n, this.E]), T: f32(this.T, [this.M, this.E]) }, ['top']);
    this.top = Float32Array.from(dataF32(res.top as ort.Tensor, 'top-k'));
    this.seen += n;
  }

  /** Images added so far. */
  get count(): number {
    return this.seen;
  }

  /** Per concept: the mean of its min(k, images) largest similarities. */
  means(): Float32Array {
    if (this.seen === 0) throw new Error('top-k: no image was added');
    const kk = Math.min(this.k, this.seen);
    const out = new Float32Array(this.M);
    for (let m = 0; m < this.M; m++) {
      let s = 0;
      for (let r = 0; r < kk; r++) s += this.top[r * this.M + m]!;
      out[m] = s / kk;
    }
    return out;
  }
}

/** Options of {@link topImageSimilarities}. */
export interface TopImageOptions {
  /** Images per encoder call (default 32). */
  batchSize?: number;
  /** Skip images that cannot be decoded (listed in the result) instead of failing. */
  skipBad?: boolean;
  k?: number;
  engine?: Engine;
  progress?: Progress;
}

/**
 * The mean top-k CLIP similarity of each concept over the images at `paths`: each image resized
 * (shorter side, bicubic) and centre-cropped to CLIP's input, as CLIP's own preprocessing does,
 * encoded whole and unprompted.
 */
export async function topImageSimilarities(
  encoder: ImageEncoder,
  paths: readonly string[],
  T: Float32Array,
  M: number,
  options: TopImageOptions = {},
): Promise<{ means: Float32Array; images: number; skipped: { path: string; reason: string }[] }> {
  if (paths.length === 0) throw new Error('absent-from-data filter: no training images');
  const S = encoder.inputSize;
  const E = encoder.embedDim;
  const batchSize = options.batchSize ?? 32;
  const topk = await TopKSimilarity.create(T, M, E, options.k ?? FILTER_DEFAULTS.topK, options.engine);
  const progress = options.progress ?? silentProgress;
  const per = 3 * S * S;
  const pixels = new Float32Array(batchSize * per);
  const skipped: { path: string; reason: string }[] = [];
  progress.start('CLIP image embeddings', paths.length);
  let done = 0;
  for await (const batch of iterateBatches(paths.map((path) => ({ path })), { size: S, mode: 'center' }, { batchSize, skipBad: options.skipBad, interpolation: 'bicubic' })) {
    batch.images.forEach((img, i) => toChwNormalised(img, encoder.mean, encoder.std, pixels, i * per));
    const n = batch.images.length;
    if (n > 0) await topk.add(await encoder.encodeImages(pixels.subarray(0, n * per), n), n);
    skipped.push(...batch.skipped);
    done += n + batch.skipped.length;
    progress.update(done);
  }
  progress.stop();
  if (topk.count === 0) throw new Error(`absent-from-data filter: none of the ${paths.length} images could be decoded`);
  return { means: topk.means(), images: topk.count, skipped };
}

// ------------------------------------------------------------------------------------------
// The whole filter

/** Options of {@link filterConcepts}; thresholds default to LF-CBM's. */
export interface FilterOptions {
  concepts: readonly string[];
  classes: readonly string[];
  text: TextSimilarityModel;
  /** Training images for the absent-from-data filter (skipped when omitted). */
  images?: { encoder: ImageEncoder; paths: readonly string[] };
  maxLength?: number;
  classSimilarity?: number;
  duplicateSimilarity?: number;
  clipCutoff?: number;
  topK?: number;
  batchSize?: number;
  skipBad?: boolean;
  engine?: Engine;
  progress?: Progress;
}

/** The filtered list and the report of every decision. */
export interface FilterResult {
  kept: string[];
  report: ConceptReport;
  /** Training images that could not be decoded (with `skipBad`). */
  skipped: { path: string; reason: string }[];
}

/**
 * Runs the four filters in SPEC's order on the concepts (trimmed, each once, sorted by code
 * point as LF-CBM's class filter sorts them) and reports every decision.
 */
export async function filterConcepts(options: FilterOptions): Promise<FilterResult> {
  const o = { ...FILTER_DEFAULTS, ...definedOnly(options) };
  const engine = options.engine ?? getDefaultEngine();
  const progress = options.progress ?? silentProgress;
  const { text } = options;
  const classes = [...options.classes];
  if (classes.length === 0) throw new Error('concept filter: no class names');
  const concepts = [...new Set(options.concepts.map((c) => c.trim()).filter((c) => c !== ''))].sort(compareCodePoints);
  if (concepts.length === 0) throw new Error('concept filter: no concepts');
  const measure = textMeasure(text);

  const s1 = dropTooLong(concepts, o.maxLength);
  progress.log(`length: ${s1.stage.dropped.length} dropped`);

  const classEmb = await similarityEmbeddings(text, classes);
  const s2 = await dropSimilarToClasses(s1.kept, classes, async (rest) => {
    const emb = await similarityEmbeddings(text, rest);
    return maxSimilarity(emb.data, rest.length, classEmb.data, classes.length, emb.dim, engine);
  }, o.classSimilarity, measure);
  progress.log(`class similarity: ${s2.stage.dropped.length} dropped`);

  let s3: StageResult;
  if (s2.kept.length > 1) {
    const emb = await similarityEmbeddings(text, s2.kept);
    s3 = await dropNearDuplicates(s2.kept, await SimilarityRows.create(emb.data, s2.kept.length, emb.dim, engine), o.duplicateSimilarity, measure);
  } else {
    s3 = await dropNearDuplicates(s2.kept, matrixRows(new Float32Array(s2.kept.length ** 2).fill(1), s2.kept.length), o.duplicateSimilarity, measure);
  }
  progress.log(`near-duplicates: ${s3.stage.dropped.length} dropped`);

  let s4: StageResult;
  let skipped: { path: string; reason: string }[] = [];
  const settings: Record<string, unknown> = {
    clip: text.clip.id,
    sentenceModel: text.sentence?.id ?? null,
    maxLength: o.maxLength,
    classSimilarity: o.classSimilarity,
    duplicateSimilarity: o.duplicateSimilarity,
    clipCutoff: o.clipCutoff,
    topK: o.topK,
  };
  if (!options.images) {
    s4 = { kept: s3.kept, stage: { ...dropAbsent([], new Float32Array(0), o.clipCutoff, o.topK).stage, input: s3.kept.length, skipped: 'no training images given' } };
  } else if (s3.kept.length === 0) {
    s4 = { kept: [], stage: { ...dropAbsent([], new Float32Array(0), o.clipCutoff, o.topK).stage, skipped: 'no concept left' } };
  } else {
    const { encoder, paths } = options.images;
    if (encoder.embedDim !== text.clip.embedDim) {
      throw new Error(`concept filter: the image encoder's embeddings (${encoder.embedDim}) and CLIP text embeddings (${text.clip.embedDim}) differ in width; use one CLIP for both`);
    }
    const T = await text.clip.encodeTexts(s3.kept);
    const top = await topImageSimilarities(encoder, paths, T, s3.kept.length, { batchSize: o.batchSize, skipBad: o.skipBad, k: o.topK, engine, progress });
    skipped = top.skipped;
    s4 = dropAbsent(s3.kept, top.means, o.clipCutoff, o.topK, top.images);
    settings.images = top.images;
    progress.log(`absent from the data: ${s4.stage.dropped.length} dropped`);
  }
  const report = conceptReport(concepts.length, s4.kept, [s1.stage, s2.stage, s3.stage, s4.stage], settings);
  return { kept: s4.kept, report, skipped };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkShape(X: Float32Array, rows: number, cols: number, what: string): void {
  if (X.length !== rows * cols) throw new Error(`${what}: ${X.length} values, expected ${rows}×${cols}`);
}

// ------------------------------------------------------------------------------------------
// Sentence-embedding model (transformers.js)

/** Options of {@link SentenceEncoder.load}. */
export interface SentenceLoadOptions {
  device?: Device;
  /** `mean` (sentence-transformers' all-mpnet-base-v2, the default) or `cls` pooling. */
  pooling?: 'mean' | 'cls';
  /** Texts per model run (default 64). */
  batch?: number;
}

type FeatureExtractor = ((texts: string[], options: { pooling: 'mean' | 'cls'; normalize: boolean }) => Promise<{ data: Float32Array; dims: number[] }>) & {
  dispose(): Promise<unknown>;
};

/**
 * A sentence-embedding model through @huggingface/transformers' feature-extraction pipeline:
 * a local folder (config.json, tokenizer files, onnx/model.onnx; works offline) or a hub id in
 * transformers.js' ONNX form, e.g. `Xenova/all-mpnet-base-v2` (needs the hub or its cache).
 * Embeddings are pooled and L2-normalised, like sentence-transformers' all-mpnet-base-v2.
 */
export class SentenceEncoder implements TextEncoder, ModelResource {
  private constructor(
    readonly id: string,
    readonly embedDim: number,
    private readonly extractor: FeatureExtractor,
    private readonly pooling: 'mean' | 'cls',
    private readonly batch: number,
  ) {}

  /** Loads the model; `source` is a folder or a hub id. */
  static async load(source: string, options: SentenceLoadOptions = {}): Promise<SentenceEncoder> {
    const isFolder = existsSync(source) || source.startsWith('.') || source.startsWith('/');
    const path = isFolder ? resolve(source) : source;
    if (isFolder && !(existsSync(path) && statSync(path).isDirectory())) {
      throw new Error(`sentence model ${path}: not a folder (expected config.json, tokenizer.json and onnx/model.onnx)`);
    }
    let extractor: FeatureExtractor;
    try {
      extractor = (await pipeline('feature-extraction', path, {
        local_files_only: isFolder,
        dtype: 'fp32',
        device: options.device ?? 'cpu',
      })) as unknown as FeatureExtractor;
    } catch (err) {
      const hint = isFolder ? '' : ' (a hub id needs the hub or its cache; a local folder works offline)';
      throw new Error(`sentence model ${path}: could not be loaded by transformers.js${hint}: ${(err as Error).message}`);
    }
    const pooling = options.pooling ?? 'mean';
    const probe = await extractor(['a'], { pooling, normalize: true });
    const dim = probe.dims[probe.dims.length - 1]!;
    return new SentenceEncoder(`sentence:${path}`, dim, extractor, pooling, Math.max(1, options.batch ?? 64));
  }

  /** Unit-length sentence embeddings, texts.length×embedDim. */
  async encodeTexts(texts: readonly string[]): Promise<Float32Array> {
    const out = new Float32Array(texts.length * this.embedDim);
    for (let i = 0; i < texts.length; i += this.batch) {
      const chunk = texts.slice(i, i + this.batch);
      const t = await this.extractor(chunk, { pooling: this.pooling, normalize: true });
      if (t.data.length !== chunk.length * this.embedDim) throw new Error(`${this.id}: ${t.data.length} values for ${chunk.length} texts of width ${this.embedDim}`);
      out.set(t.data, i * this.embedDim);
    }
    return out;
  }

  /** Releases the model's session. */
  async dispose(): Promise<void> {
    await this.extractor.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

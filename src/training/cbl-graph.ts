/**
 * ONNX graphs for training the concept bottleneck layer W_c [M×D] (SPEC step 3).
 *
 * For a batch of B images with G grid positions, features F [B,G,D] (channels last), prompted
 * CLIP image embeddings I [B,G,E] and concept text embeddings T [M,E]:
 *
 *   P[n,g,m] = I[n,g,:]·T[m,:]      C[n,g,m] = F[n,g,:]·W_c[m,:]
 *   L = −scale · Σ_{g,m} sim3(C[:,g,m], P[:,g,m])      (scale 1 for 'sum', 1/(G·M) for 'mean')
 *   sim3(q, p) = (q̄³·p̄³) / ((‖q̄³‖ + eps)(‖p̄³‖ + eps))
 *
 * Three facts shape the graphs:
 * - Centring C over the batch equals multiplying W_c by features centred over the batch
 *   (C − mean C = (F − mean F)·W_cᵀ), and Σ_n (h_n − h̄) F_n = Σ_n h_n (F_n − F̄). So with
 *   centred features Fc, no [B, G·M] tensor is ever centred, neither forward nor backward.
 * - The P side, v = p̄³/(‖p̄³‖ + eps), does not depend on W_c. When the batch is fixed (the whole
 *   training set, LF-CBM's case whenever N ≤ 50,000) it is computed once ("prepared" data).
 * - Inside the graphs, features are grid-major ([G, B, D]) and every per-column tensor is
 *   concept-major, [M, G·B] = [M·G, B]: the batch is the contiguous last axis, so the reductions
 *   over the batch are fast, C = W_c·Fcᵀ is one Gemm (transB) and the gradient
 *   ∂L/∂W_c = (∂L/∂Cᵀ)·Fc is one plain Gemm.
 *
 * Gradient (closed form, SPEC): with a = centred C, b = a³, r = ‖b‖, nb = r + eps, s = b·v/nb,
 *   ∂L/∂a = −scale·3a² ⊙ (v/nb − s·b/(nb·r)),     ∂L/∂W_c = Σ_{n,g} ∂L/∂a[n,g,:] ⊗ Fc[n,g,:].
 *
 * The loss is separable over grid positions, so prepared data splits G into chunks and
 * accumulates (the step graph takes the running gradient as its Gemm's C input), which bounds
 * memory and keeps the [M·chunk, B] intermediates closer to cache (see `defaultGridChunk`).
 *
 * A batch that does not fit in memory is streamed in chunks of images instead (cbl-stream.ts,
 * the same loss and gradient up to rounding). About a quarter of a prepared step is the
 * elementwise passes over [M·chunk, B] (profiled: ~49 of 176 ms single-threaded at B = 2000,
 * chunk 10); ONNX Runtime's CPU provider fuses none of them. Rewrites measured against this one
 * (ReduceSumSquare or ReduceL2 for ‖b‖, a batched MatMul for Σ b·v, h = α·a²⊙(v − (β/α)·b))
 * gave no gain that held up across runs, so the plain Mul/ReduceSum form stays.
 */
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { Engine, f32, dataF32 } from '../engine/session.js';

/** Shapes of one graph: batch B, grid positions G (or a chunk of them), feature dim D, CLIP dim E, concepts M. */
export interface CblShape {
  B: number;
  G: number;
  D: number;
  E: number;
  M: number;
}

/** How the loss is reduced over the G·M columns. */
export type CblReduction = 'sum' | 'mean';

/** Loss options shared by all graphs. */
export interface CblLossOptions {
  /** Added to both norms ‖q̄³‖ and ‖p̄³‖; default 1e-12. */
  eps?: number;
  /** 'sum' (SPEC, default): L = −Σ sim3; 'mean': L = −mean sim3 (LF-CBM's train_cbm.py). */
  reduction?: CblReduction;
}

/** Default epsilon added to the norms. */
export const CBL_DEFAULT_EPS = 1e-12;

/** The factor applied to −Σ sim3 for a reduction over `columns` = G·M columns. */
export function reductionScale(reduction: CblReduction, columns: number): number {
  return reduction === 'mean' ? 1 / columns : 1;
}

function checkShape(s: CblShape): void {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`CBL graph: ${k} must be a positive integer, got ${v}`);
  }
}

function shapeKey(s: CblShape): string {
  return `B${s.B}G${s.G}D${s.D}E${s.E}M${s.M}`;
}

function checkLen(name: string, a: Float32Array, expected: number, dims: string): void {
  if (a.length !== expected) throw new Error(`CBL: ${name} has ${a.length} values, expected ${expected} (${dims})`);
}

// ---------------------------------------------------------------------------------------------
// Graph pieces

const keep = { keepdims: attr.i(1) };

/** ReduceSum over the last axis of a 2-D tensor, kept (opset ≥ 13: axes as an input). */
function sumLast(b: GraphBuilder, x: string): string {
  return b.op('ReduceSum', [x, b.constI64([1])], keep);
}

/** F [B,G,D] → grid-major, centred over the batch, flat [G·B, D]. */
function addCentre(b: GraphBuilder, F: string, s: CblShape): string {
  const gm = b.op('Transpose', [F], { perm: attr.ints([1, 0, 2]) });
  const fc = b.op('Sub', [gm, b.op('ReduceMean', [gm], { axes: attr.ints([1]), ...keep })]);
  return b.op('Reshape', [fc, b.constI64([s.G * s.B, s.D])]);
}

/** v = p̄³/(‖p̄³‖ + eps) as [M·G, B], from grid-major I [G·B, E] and T [M,E]. */
function addTarget(b: GraphBuilder, I2: string, T: string, s: CblShape, eps: number, out?: string): string {
  const p = b.op('Gemm', [T, I2], { transB: attr.i(1) }); // [M, G·B]
  const p2 = b.op('Reshape', [p, b.constI64([s.M * s.G, s.B])]);
  const pc = b.op('Sub', [p2, b.op('ReduceMean', [p2], { axes: attr.ints([1]), ...keep })]);
  const p3 = b.op('Mul', [b.op('Mul', [pc, pc]), pc]);
  const norm = b.op('Sqrt', [b.op('ReduceSumSquare', [p3], { axes: attr.ints([1]), ...keep })]);
  return b.op('Div', [p3, b.op('Add', [norm, b.constF32([eps], [])])], {}, out);
}

/**
 * The C side from grid-major centred features Fc [G·B, D] and v [M·G, B]: per-column similarity
 * s [M·G, 1], the loss, and (when `grad`) ∂L/∂W_c [M, D], added to `gradIn` when given.
 */
function addCSide(
  b: GraphBuilder,
  W: string,
  Fc: string,
  V: string,
  s: CblShape,
  eps: number,
  scale: number,
  grad: { gradIn?: string } | null,
): { loss: string; sim: string; grad?: string } {
  const c = b.op('Gemm', [W, Fc], { transB: attr.i(1) }); // [M, G·B], already centred
  const a = b.op('Reshape', [c, b.constI64([s.M * s.G, s.B])]);
  const a2 = b.op('Mul', [a, a]);
  const cube = b.op('Mul', [a2, a]);
  const r = b.op('Sqrt', [sumLast(b, b.op('Mul', [cube, cube]))]);
  const nb = b.op('Add', [r, b.constF32([eps], [])]);
  const sim = b.op('Div', [sumLast(b, b.op('Mul', [cube, V])), nb]); // [M·G, 1]
  const loss = b.op('Mul', [b.op('ReduceSum', [sim], { keepdims: attr.i(0) }), b.constF32([-scale], [])]);
  if (!grad) return { loss, sim };
  // h = a² ⊙ (α v − β b), α = 3·scale/nb, β = 3·scale·s/(nb·r); ∂L/∂a = −h.
  const three = b.constF32([3 * scale], []);
  const alpha = b.op('Div', [three, nb]);
  const rSafe = b.op('Max', [r, b.constF32([1e-30], [])]);
  const beta = b.op('Div', [b.op('Mul', [sim, three]), b.op('Mul', [nb, rSafe])]);
  const inner = b.op('Sub', [b.op('Mul', [V, alpha]), b.op('Mul', [cube, beta])]);
  const h = b.op('Reshape', [b.op('Mul', [a2, inner]), b.constI64([s.M, s.G * s.B])]);
  const gemmIn = grad.gradIn ? [h, Fc, grad.gradIn] : [h, Fc];
  const gemmAttrs = { alpha: attr.f(-1), ...(grad.gradIn ? { beta: attr.f(1) } : {}) };
  return { loss, sim, grad: b.op('Gemm', gemmIn, gemmAttrs) };
}

function addSimOutputs(b: GraphBuilder, sim: string, s: CblShape): void {
  const mg = b.op('Reshape', [sim, b.constI64([s.M, s.G])]);
  b.output(b.op('Transpose', [mg], { perm: attr.ints([1, 0]) }, 'columnSim'), 'float32', [s.G, s.M]);
  // Sum over g (not mean) so chunks of grid positions can be added; callers divide by G.
  b.output(b.op('ReduceSum', [mg, b.constI64([1])], { keepdims: attr.i(0) }, 'conceptSimSum'), 'float32', [s.M]);
}

// ---------------------------------------------------------------------------------------------
// Graph builders (exported for inspection and tests)

/** The kinds of CBL graph. */
export type CblGraphKind = 'raw-step' | 'raw-eval' | 'target' | 'step' | 'eval';

/**
 * Builds one CBL graph. Shapes are fixed by `s`; chunked callers pass G = the chunk size.
 * - `raw-step`: W [M,D], F [B,G,D], I [B,G,E], T [M,E] → loss [], grad [M,D].
 * - `raw-eval`: same inputs → loss [], columnSim [G,M], conceptSimSum [M] (Σ_g sim3).
 * - `target`: I [G·B, E] (grid-major), T → V [M·G, B] (v = p̄³/(‖p̄³‖+eps) per column).
 * - `step`: W, Fc [G·B, D] (grid-major, centred over the batch), V [M·G, B], GradIn [M,D] →
 *   loss, grad (= GradIn + ∂L/∂W_c).
 * - `eval`: W, Fc, V → loss, columnSim, conceptSimSum.
 */
export function buildCblGraph(kind: CblGraphKind, s: CblShape, eps: number, scale: number): Uint8Array {
  checkShape(s);
  const b = new GraphBuilder(`cbl_${kind}`);
  const GB = s.G * s.B;
  if (kind === 'target') {
    const I = b.input('I', 'float32', [GB, s.E]);
    const T = b.input('T', 'float32', [s.M, s.E]);
    b.output(addTarget(b, I, T, s, eps, 'V'), 'float32', [s.M * s.G, s.B]);
    return b.toBytes();
  }
  const W = b.input('W', 'float32', [s.M, s.D]);
  let Fc: string;
  let V: string;
  if (kind === 'raw-step' || kind === 'raw-eval') {
    const F = b.input('F', 'float32', [s.B, s.G, s.D]);
    const I = b.input('I', 'float32', [s.B, s.G, s.E]);
    const T = b.input('T', 'float32', [s.M, s.E]);
    Fc = addCentre(b, F, s);
    const I2 = b.op('Reshape', [b.op('Transpose', [I], { perm: attr.ints([1, 0, 2]) }), b.constI64([GB, s.E])]);
    V = addTarget(b, I2, T, s, eps);
  } else {
    Fc = b.input('Fc', 'float32', [GB, s.D]);
    V = b.input('V', 'float32', [s.M * s.G, s.B]);
  }
  const withGrad = kind === 'raw-step' || kind === 'step';
  const gradIn = kind === 'step' ? b.input('GradIn', 'float32', [s.M, s.D]) : undefined;
  const out = addCSide(b, W, Fc, V, s, eps, scale, withGrad ? { gradIn } : null);
  b.output(b.op('Identity', [out.loss], {}, 'loss'), 'float32', []);
  if (withGrad) b.output(b.op('Identity', [out.grad!], {}, 'grad'), 'float32', [s.M, s.D]);
  else addSimOutputs(b, out.sim, s);
  return b.toBytes();
}

function session(engine: Engine, kind: CblGraphKind, s: CblShape, eps: number, scale: number) {
  return engine.cached(`cbl-${kind}-${shapeKey(s)}-eps${eps}-scale${scale}`, () => buildCblGraph(kind, s, eps, scale));
}

function resolve(s: CblShape, options: CblLossOptions, columns = s.G * s.M): { eps: number; scale: number } {
  const eps = options.eps ?? CBL_DEFAULT_EPS;
  if (!(eps >= 0)) throw new Error(`CBL: eps must be ≥ 0, got ${eps}`);
  return { eps, scale: reductionScale(options.reduction ?? 'sum', columns) };
}

// ---------------------------------------------------------------------------------------------
// One-shot calls on raw batches

/** Raw batch inputs: W_c [M,D], F [B,G,D], I [B,G,E], T [M,E]. */
export interface CblBatch {
  W: Float32Array;
  F: Float32Array;
  I: Float32Array;
  T: Float32Array;
}

function checkBatch(s: CblShape, x: CblBatch): void {
  checkShape(s);
  checkLen('W', x.W, s.M * s.D, 'M×D');
  checkLen('F', x.F, s.B * s.G * s.D, 'B×G×D');
  checkLen('I', x.I, s.B * s.G * s.E, 'B×G×E');
  checkLen('T', x.T, s.M * s.E, 'M×E');
}

/** Loss and ∂L/∂W_c for one batch, everything computed in one graph. */
export async function cblLossAndGrad(engine: Engine, s: CblShape, x: CblBatch, options: CblLossOptions = {}): Promise<{ loss: number; grad: Float32Array }> {
  checkBatch(s, x);
  const { eps, scale } = resolve(s, options);
  const sess = await session(engine, 'raw-step', s, eps, scale);
  const out = await sess.run({
    W: f32(x.W, [s.M, s.D]),
    F: f32(x.F, [s.B, s.G, s.D]),
    I: f32(x.I, [s.B, s.G, s.E]),
    T: f32(x.T, [s.M, s.E]),
  });
  return { loss: dataF32(out.loss!, 'loss')[0]!, grad: dataF32(out.grad!, 'grad') };
}

/** Similarities of one batch. */
export interface CblEvaluation {
  /** The loss (per the reduction). */
  loss: number;
  /** sim3 per column, [G, M] (grid position major). */
  columnSim: Float32Array;
  /** Per concept: mean over grid positions of sim3, [M]. */
  conceptSim: Float32Array;
  /** Mean of sim3 over all G·M columns. */
  meanSim: number;
}

/** Loss and similarities for one batch (no gradient), in one graph. */
export async function cblEvaluate(engine: Engine, s: CblShape, x: CblBatch, options: CblLossOptions = {}): Promise<CblEvaluation> {
  checkBatch(s, x);
  const { eps, scale } = resolve(s, options);
  const sess = await session(engine, 'raw-eval', s, eps, scale);
  const out = await sess.run({
    W: f32(x.W, [s.M, s.D]),
    F: f32(x.F, [s.B, s.G, s.D]),
    I: f32(x.I, [s.B, s.G, s.E]),
    T: f32(x.T, [s.M, s.E]),
  });
  const columnSim = dataF32(out.columnSim!, 'columnSim');
  const sums = dataF32(out.conceptSimSum!, 'conceptSimSum');
  const conceptSim = sums.map((v) => v / s.G);
  return { loss: dataF32(out.loss!, 'loss')[0]!, columnSim, conceptSim, meanSim: meanOf(columnSim) };
}

function meanOf(a: Float32Array): number {
  let t = 0;
  for (let i = 0; i < a.length; i++) t += a[i]!;
  return t / a.length;
}

// ---------------------------------------------------------------------------------------------
// Prepared data: a fixed set of images, centred features and targets computed once

/** Dimensions of a data set for the CBL. */
export interface CblDims {
  G: number;
  D: number;
  E: number;
  M: number;
}

/** Options for prepared data. */
export interface PrepareOptions extends CblLossOptions {
  /** Grid positions per graph run (the loss is separable over g); see `defaultGridChunk`. */
  gridChunk?: number;
  /** Use only these images (a random batch); all n when omitted. */
  rows?: Int32Array;
}

/**
 * Grid positions [g0, g0+gc) of X [n, G, W], grid-major ([gc, B, W] flat), for the images `rows`
 * (B = rows.length; all n images in order when omitted). With `centre`, each (g, w) is centred
 * over those images (float64 means).
 */
export function gridMajorChunk(X: Float32Array, n: number, G: number, W: number, g0: number, gc: number, centre: boolean, rows?: Int32Array): Float32Array {
  checkLen('X', X, n * G * W, 'n×G×W');
  if (g0 < 0 || gc < 1 || g0 + gc > G) throw new Error(`CBL: grid chunk [${g0}, ${g0 + gc}) outside 0..${G}`);
  const B = rows ? rows.length : n;
  const out = new Float32Array(gc * B * W);
  const mean = new Float64Array(W);
  for (let g = 0; g < gc; g++) {
    mean.fill(0);
    for (let k = 0; k < B; k++) {
      const img = rows ? rows[k]! : k;
      if (!(img >= 0 && img < n)) throw new Error(`CBL: image index ${img} outside 0..${n - 1}`);
      const src = (img * G + g0 + g) * W;
      const dst = (g * B + k) * W;
      for (let j = 0; j < W; j++) {
        const x = X[src + j]!;
        out[dst + j] = x;
        mean[j]! += x;
      }
    }
    if (!centre) continue;
    for (let j = 0; j < W; j++) mean[j]! /= B;
    const blk = out.subarray(g * B * W, (g + 1) * B * W);
    for (let o = 0; o < blk.length; o += W) for (let j = 0; j < W; j++) blk[o + j]! -= mean[j]!;
  }
  return out;
}

/**
 * Picks the grid chunk size: the fewest equal chunks that keep each [M·chunk, B] intermediate
 * under `maxValues` values (32 MB by default), so memory stays bounded for large B·M. At B = 2000,
 * M = 370, G = 49 this gives chunks of 10. bench/cbl.ts times alternatives (`--chunks=`): on an
 * idle machine single grid positions were ~20% faster than the whole grid, on a busy one ~20%
 * slower (more runs, more thread-pool synchronisation); mid-sized chunks sit between.
 */
export function defaultGridChunk(B: number, G: number, M: number, maxValues = 8 * 1024 * 1024): number {
  const parts = Math.min(G, Math.max(1, Math.ceil((B * G * M) / maxValues)));
  return Math.ceil(G / parts);
}

interface Chunk {
  g0: number;
  gc: number;
  Fc: Float32Array;
  V: Float32Array;
}

/**
 * A fixed batch of B images (the whole training or validation set): features centred over the
 * batch and the CLIP side v = p̄³/‖p̄³‖ computed once, so each loss/gradient evaluation costs two
 * GEMMs (C = Fc·W_cᵀ and ∂L/∂W_c = ∂L/∂aᵀ·Fc) plus elementwise work.
 */
export class PreparedCblData {
  private constructor(
    private readonly engine: Engine,
    readonly B: number,
    readonly dims: CblDims,
    private readonly chunks: Chunk[],
    private readonly eps: number,
    private readonly scale: number,
  ) {}

  /** Prepares F [n,G,D] and I [n,G,E] (or their `rows`) against T [M,E]. The inputs are not kept. */
  static async create(
    engine: Engine,
    data: { F: Float32Array; I: Float32Array; n: number },
    T: Float32Array,
    dims: CblDims,
    options: PrepareOptions = {},
  ): Promise<PreparedCblData> {
    const { G, D, E, M } = dims;
    const { n, rows } = { n: data.n, rows: options.rows };
    const B = rows ? rows.length : n;
    checkShape({ B, G, D, E, M });
    checkLen('F', data.F, n * G * D, 'n×G×D');
    checkLen('I', data.I, n * G * E, 'n×G×E');
    checkLen('T', T, M * E, 'M×E');
    const { eps, scale } = resolve({ B, G, D, E, M }, options);
    const gridChunk = options.gridChunk ?? defaultGridChunk(B, G, M);
    if (!Number.isInteger(gridChunk) || gridChunk < 1) throw new Error(`CBL: gridChunk must be a positive integer, got ${gridChunk}`);
    const chunks: Chunk[] = [];
    for (let g0 = 0; g0 < G; g0 += gridChunk) {
      const gc = Math.min(gridChunk, G - g0);
      const s: CblShape = { B, G: gc, D, E, M };
      const Fc = gridMajorChunk(data.F, n, G, D, g0, gc, true, rows);
      const sess = await session(engine, 'target', s, eps, 1);
      const out = await sess.run({ I: f32(gridMajorChunk(data.I, n, G, E, g0, gc, false, rows), [gc * B, E]), T: f32(T, [M, E]) });
      chunks.push({ g0, gc, Fc, V: dataF32(out.V!, 'V') });
    }
    return new PreparedCblData(engine, B, dims, chunks, eps, scale);
  }

  /** Grid chunk sizes used. */
  get gridChunks(): number[] {
    return this.chunks.map((c) => c.gc);
  }

  private shape(c: Chunk): CblShape {
    return { B: this.B, G: c.gc, D: this.dims.D, E: this.dims.E, M: this.dims.M };
  }

  /** Loss and ∂L/∂W_c at W [M,D]. */
  async lossAndGrad(W: Float32Array): Promise<{ loss: number; grad: Float32Array }> {
    const { D, M } = this.dims;
    checkLen('W', W, M * D, 'M×D');
    const wT = f32(W, [M, D]);
    let grad: Float32Array = new Float32Array(M * D);
    let loss = 0;
    for (const c of this.chunks) {
      const s = this.shape(c);
      const sess = await session(this.engine, 'step', s, this.eps, this.scale);
      const out = await sess.run({ W: wT, Fc: f32(c.Fc, [c.gc * this.B, D]), V: f32(c.V, [M * c.gc, this.B]), GradIn: f32(grad, [M, D]) });
      loss += dataF32(out.loss!, 'loss')[0]!;
      grad = dataF32(out.grad!, 'grad');
    }
    return { loss, grad };
  }

  /** Loss and similarities at W [M,D]. */
  async evaluate(W: Float32Array): Promise<CblEvaluation> {
    const { D, M, G } = this.dims;
    checkLen('W', W, M * D, 'M×D');
    const wT = f32(W, [M, D]);
    const columnSim = new Float32Array(G * M);
    const conceptSim = new Float32Array(M);
    let loss = 0;
    for (const c of this.chunks) {
      const s = this.shape(c);
      const sess = await session(this.engine, 'eval', s, this.eps, this.scale);
      const out = await sess.run({ W: wT, Fc: f32(c.Fc, [c.gc * this.B, D]), V: f32(c.V, [M * c.gc, this.B]) });
      loss += dataF32(out.loss!, 'loss')[0]!;
      columnSim.set(dataF32(out.columnSim!, 'columnSim'), c.g0 * M);
    }
    for (let g = 0; g < G; g++) for (let m = 0; m < M; m++) conceptSim[m]! += columnSim[g * M + m]!;
    for (let m = 0; m < M; m++) conceptSim[m]! /= G;
    return { loss, columnSim, conceptSim, meanSim: meanOf(columnSim) };
  }
}

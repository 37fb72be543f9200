/**
 * The concept-layer loss and gradient (cbl-graph.ts) for a batch that is not held in memory: its
 * rows are read from a `CblRowSource` in chunks of k images, and everything per (g, m) column is
 * accumulated over the chunks, so no [B, G, M] array is ever stored.
 *
 * The loss is a sum over columns of sim3 = (b·u)/((‖b‖ + eps)(‖u‖ + eps)), with b = a³,
 * a = (F − F̄)·W_cᵀ and u = ((I − Ī)·Tᵀ)³ (centring P = I·Tᵀ over the batch is centring I, as for
 * F). Everything a column needs is three sums over the batch, Σb², Σb·u and Σu², so:
 *
 * - once per batch, a `stats` pass sums F and I over the batch (→ F̄ [G,D], Ī [G,E]);
 * - a `loss` pass computes a, b, u per chunk and accumulates the three sums per column, which give
 *   r = ‖b‖, nb = r + eps, nP = ‖u‖ + eps, s = Σb·u/(nb·nP) and the loss −scale·Σ s;
 * - a `grad` pass recomputes a, b, u per chunk and accumulates
 *   ∂L/∂W_c = −Σ_{n,g} h[n,g,:] ⊗ Fc[n,g,:],   h = a² ⊙ (α u − β b),
 *   α = 3·scale/(nb·nP), β = 3·scale·s/(nb·r)  (cbl-graph.ts's closed form with v = u/nP),
 *   with the running gradient as its Gemm's C input.
 *
 * Inside the graphs the chunk stays row-major: a chunk's [k·G, D] features times W_cᵀ is
 * [k·G, M] = [k, G·M], columns contiguous, so the per-column sums are reductions over the
 * leading axis and the gradient is one Gemm (transA). The chunk size k is a symbolic dimension,
 * so one session per shape and input dtype serves every chunk; float16 inputs (bit patterns in a
 * Uint16Array) are cast to float32 inside the graph.
 */
import { GraphBuilder, attr, type DTypeName } from '../engine/onnx-builder.js';
import { Engine, f32, dataF32, ort } from '../engine/session.js';
import { CBL_DEFAULT_EPS, reductionScale, type CblDims, type CblEvaluation, type CblLossOptions } from './cbl-graph.js';
import { checkChunk, checkRows, type CblRowSource, type RowData } from './cbl-source.js';

/** The kinds of streamed graph. */
export type CblStreamGraphKind = 'stats' | 'loss' | 'grad';

/** Input dtypes of a streamed graph: F's and I's. */
export interface CblStreamDtypes {
  F: 'float32' | 'float16';
  I: 'float32' | 'float16';
}

function dtypeOf(x: RowData): 'float32' | 'float16' {
  return x instanceof Float32Array ? 'float32' : 'float16';
}

function rowTensor(x: RowData, dims: number[]): ort.Tensor {
  return x instanceof Float32Array ? f32(x, dims) : new ort.Tensor('float16', x, dims);
}

/** The input as float32 (a Cast when it is float16). */
function asF32(b: GraphBuilder, x: string, dtype: DTypeName): string {
  return dtype === 'float32' ? x : b.op('Cast', [x], { to: attr.i(1) });
}

const axis0 = { keepdims: attr.i(0) };

/**
 * Builds one streamed graph; the chunk size is the symbolic dimension `k`.
 * - `stats`: F [k,G,D], I [k,G,E] → sumF [G·D], sumI [G·E] (sums over the chunk's images).
 * - `loss`: W [M,D], F, I, T [M,E], Fbar [G,D], Ibar [G,E] → sbb, sbu, suu [G·M] (per column
 *   (g, m) at g·M + m: the chunk's Σb², Σb·u, Σu²).
 * - `grad`: the same inputs and Alpha, Beta [G·M], GradIn [M,D] → grad = GradIn − Σ h ⊗ Fc.
 */
export function buildCblStreamGraph(kind: CblStreamGraphKind, dims: CblDims, dtypes: CblStreamDtypes): Uint8Array {
  const { G, D, E, M } = dims;
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`CBL stream graph: ${k} must be a positive integer, got ${v}`);
  }
  const b = new GraphBuilder(`cbl_stream_${kind}`);
  const F = asF32(b, b.input('F', dtypes.F, ['k', G, D]), dtypes.F);
  const I = asF32(b, b.input('I', dtypes.I, ['k', G, E]), dtypes.I);
  if (kind === 'stats') {
    const sum = (x: string, width: number, out: string): void => {
      const flat = b.op('Reshape', [x, b.constI64([-1, width])]);
      b.output(b.op('ReduceSum', [flat, b.constI64([0])], axis0, out), 'float32', [width]);
    };
    sum(F, G * D, 'sumF');
    sum(I, G * E, 'sumI');
    return b.toBytes();
  }
  const W = b.input('W', 'float32', [M, D]);
  const T = b.input('T', 'float32', [M, E]);
  const Fbar = b.input('Fbar', 'float32', [G, D]);
  const Ibar = b.input('Ibar', 'float32', [G, E]);
  const Fc = b.op('Reshape', [b.op('Sub', [F, Fbar]), b.constI64([-1, D])]); // [k·G, D]
  const Ic = b.op('Reshape', [b.op('Sub', [I, Ibar]), b.constI64([-1, E])]);
  const cols = b.constI64([-1, G * M]);
  const a = b.op('Reshape', [b.op('Gemm', [Fc, W], { transB: attr.i(1) }), cols]); // [k, G·M]
  const pc = b.op('Reshape', [b.op('Gemm', [Ic, T], { transB: attr.i(1) }), cols]);
  const a2 = b.op('Mul', [a, a]);
  const cube = b.op('Mul', [a2, a]);
  const u = b.op('Mul', [b.op('Mul', [pc, pc]), pc]);
  if (kind === 'loss') {
    const ax0 = b.constI64([0]);
    const sq0 = { axes: attr.ints([0]), keepdims: attr.i(0) }; // opset 17: ReduceSumSquare's axes are an attribute
    b.output(b.op('ReduceSumSquare', [cube], sq0, 'sbb'), 'float32', [G * M]);
    b.output(b.op('ReduceSum', [b.op('Mul', [cube, u]), ax0], axis0, 'sbu'), 'float32', [G * M]);
    b.output(b.op('ReduceSumSquare', [u], sq0, 'suu'), 'float32', [G * M]);
    return b.toBytes();
  }
  const alpha = b.input('Alpha', 'float32', [G * M]);
  const beta = b.input('Beta', 'float32', [G * M]);
  const gradIn = b.input('GradIn', 'float32', [M, D]);
  const inner = b.op('Sub', [b.op('Mul', [u, alpha]), b.op('Mul', [cube, beta])]);
  const h = b.op('Reshape', [b.op('Mul', [a2, inner]), b.constI64([-1, M])]); // [k·G, M]
  const grad = b.op('Gemm', [h, Fc, gradIn], { transA: attr.i(1), alpha: attr.f(-1), beta: attr.f(1) }, 'grad');
  b.output(grad, 'float32', [M, D]);
  return b.toBytes();
}

function streamSession(engine: Engine, kind: CblStreamGraphKind, dims: CblDims, dtypes: CblStreamDtypes) {
  const key = `cbl-stream-${kind}-G${dims.G}D${dims.D}E${dims.E}M${dims.M}-F${dtypes.F}-I${dtypes.I}`;
  return engine.cached(key, () => buildCblStreamGraph(kind, dims, dtypes));
}

/**
 * Resident bytes per image of a chunk, an upper bound measured with the process's peak RSS
 * (VmHWM) over a `create` + `lossAndGrad` + `evaluate` at G 49, E 512, D 512/2048, M 100/370/1000
 * and chunks of 16 and 64 images (per image: 2.0–6.4 MiB measured, this bound 1.0–1.45× of it).
 * Per grid position it counts 32 bytes per feature and embedding channel: the chunk as read (2,
 * float16) and the previous chunk awaiting garbage collection (2); the float32 casts and centred
 * copies held in the arenas that ONNX Runtime keeps per session after a run: stats 4, loss 4 + 4,
 * grad 4 + 4; and 8 for the arenas' growth rounding. And 80 bytes per concept: twenty float32
 * [G·M] intermediates of the loss and grad graphs (a, P, a², b, u and their products). What does not grow with the chunk (sessions, W and its gradient, the
 * means) is the runtime reserve's (memory-budget.ts).
 */
export function streamBytesPerRow(dims: CblDims): number {
  const { G, D, E, M } = dims;
  return G * (32 * (D + E) + 80 * M);
}

/** Images per chunk for a memory budget in bytes (at least 1, at most B). */
export function streamChunkRows(dims: CblDims, B: number, memoryBudgetBytes: number): number {
  return Math.max(1, Math.min(B, Math.floor(memoryBudgetBytes / streamBytesPerRow(dims))));
}

/** Options of a streamed batch. */
export interface StreamOptions extends CblLossOptions {
  /** Images per chunk; see `streamChunkRows`. */
  chunkRows: number;
}

/**
 * A batch of rows of a source (all of them, or an ascending subset), streamed: `create` reads it
 * once for the means; each `lossAndGrad` reads it twice, each `evaluate` once.
 */
export class StreamedCblBatch {
  private constructor(
    private readonly engine: Engine,
    private readonly source: CblRowSource,
    private readonly rows: readonly number[] | 'all',
    readonly B: number,
    readonly dims: CblDims,
    private readonly T: Float32Array,
    private readonly Fbar: Float32Array,
    private readonly Ibar: Float32Array,
    private readonly chunkRows: number,
    private readonly eps: number,
    private readonly scale: number,
  ) {}

  /** Reads the batch once for its feature and embedding means. */
  static async create(
    engine: Engine,
    source: CblRowSource,
    rows: readonly number[] | 'all',
    T: Float32Array,
    dims: CblDims,
    options: StreamOptions,
  ): Promise<StreamedCblBatch> {
    const { G, D, E, M } = dims;
    const B = rows === 'all' ? source.n : rows.length;
    if (!Number.isInteger(B) || B < 1) throw new Error(`CBL stream: the batch has ${B} images`);
    if (rows !== 'all') checkRows(rows, source.n, 'CBL stream');
    if (T.length !== M * E) throw new Error(`CBL stream: T has ${T.length} values, expected M×E = ${M * E}`);
    const chunkRows = options.chunkRows;
    if (!Number.isInteger(chunkRows) || chunkRows < 1) throw new Error(`CBL stream: chunkRows must be a positive integer, got ${chunkRows}`);
    const eps = options.eps ?? CBL_DEFAULT_EPS;
    if (!(eps >= 0)) throw new Error(`CBL: eps must be ≥ 0, got ${eps}`);
    const scale = reductionScale(options.reduction ?? 'sum', G * M);
    const sumF = new Float64Array(G * D);
    const sumI = new Float64Array(G * E);
    let seen = 0;
    await source.forEachChunk(rows, chunkRows, async (c) => {
      checkChunk(c, G * D, G * E, 'CBL stream');
      const sess = await streamSession(engine, 'stats', dims, { F: dtypeOf(c.F), I: dtypeOf(c.I) });
      const out = await sess.run({ F: rowTensor(c.F, [c.k, G, D]), I: rowTensor(c.I, [c.k, G, E]) });
      const sf = dataF32(out.sumF!, 'sumF');
      const si = dataF32(out.sumI!, 'sumI');
      for (let j = 0; j < sf.length; j++) sumF[j]! += sf[j]!;
      for (let j = 0; j < si.length; j++) sumI[j]! += si[j]!;
      seen += c.k;
    });
    if (seen !== B) throw new Error(`CBL stream: the source delivered ${seen} rows, expected ${B}`);
    const Fbar = Float32Array.from(sumF, (x) => x / B);
    const Ibar = Float32Array.from(sumI, (x) => x / B);
    return new StreamedCblBatch(engine, source, rows, B, dims, T, Fbar, Ibar, chunkRows, eps, scale);
  }

  /** Visits the batch's chunks with the inputs every loss/grad graph takes. */
  private async pass(W: Float32Array, visit: (feeds: Record<string, ort.Tensor>, dtypes: CblStreamDtypes) => Promise<void>): Promise<void> {
    const { G, D, E, M } = this.dims;
    if (W.length !== M * D) throw new Error(`CBL: W has ${W.length} values, expected ${M * D} (M×D)`);
    const fixed = { W: f32(W, [M, D]), T: f32(this.T, [M, E]), Fbar: f32(this.Fbar, [G, D]), Ibar: f32(this.Ibar, [G, E]) };
    let seen = 0;
    await this.source.forEachChunk(this.rows, this.chunkRows, async (c) => {
      checkChunk(c, G * D, G * E, 'CBL stream');
      seen += c.k;
      await visit({ ...fixed, F: rowTensor(c.F, [c.k, G, D]), I: rowTensor(c.I, [c.k, G, E]) }, { F: dtypeOf(c.F), I: dtypeOf(c.I) });
    });
    if (seen !== this.B) throw new Error(`CBL stream: the source delivered ${seen} rows, expected ${this.B}`);
  }

  /** The per-column sums Σb², Σb·u, Σu² over the batch (float64), [G·M] each. */
  private async columnSums(W: Float32Array): Promise<{ sbb: Float64Array; sbu: Float64Array; suu: Float64Array }> {
    const n = this.dims.G * this.dims.M;
    const acc = { sbb: new Float64Array(n), sbu: new Float64Array(n), suu: new Float64Array(n) };
    await this.pass(W, async (feeds, dtypes) => {
      const sess = await streamSession(this.engine, 'loss', this.dims, dtypes);
      const out = await sess.run(feeds);
      for (const name of ['sbb', 'sbu', 'suu'] as const) {
        const x = dataF32(out[name]!, name);
        const into = acc[name];
        for (let j = 0; j < n; j++) into[j]! += x[j]!;
      }
    });
    return acc;
  }

  /** Per column: r = ‖b‖, nb = r + eps, nP = ‖u‖ + eps and sim3 s. */
  private columns(sums: { sbb: Float64Array; sbu: Float64Array; suu: Float64Array }): {
    r: Float64Array;
    nb: Float64Array;
    nP: Float64Array;
    sim: Float64Array;
  } {
    const n = sums.sbb.length;
    const r = sums.sbb.map(Math.sqrt);
    const nb = r.map((x) => x + this.eps);
    const nP = sums.suu.map((x) => Math.sqrt(x) + this.eps);
    const sim = new Float64Array(n);
    for (let j = 0; j < n; j++) sim[j] = sums.sbu[j]! / (nb[j]! * nP[j]!);
    return { r, nb, nP, sim };
  }

  /** Loss and ∂L/∂W_c at W [M,D]: two passes over the batch. */
  async lossAndGrad(W: Float32Array): Promise<{ loss: number; grad: Float32Array }> {
    const { D, M } = this.dims;
    const { r, nb, nP, sim } = this.columns(await this.columnSums(W));
    let total = 0;
    for (const s of sim) total += s;
    const three = 3 * this.scale;
    const alpha = new Float32Array(sim.length);
    const beta = new Float32Array(sim.length);
    for (let j = 0; j < sim.length; j++) {
      alpha[j] = three / (nb[j]! * nP[j]!);
      beta[j] = (three * sim[j]!) / (nb[j]! * Math.max(r[j]!, 1e-30));
    }
    const alphaT = f32(alpha, [alpha.length]);
    const betaT = f32(beta, [beta.length]);
    let grad: Float32Array = new Float32Array(M * D);
    await this.pass(W, async (feeds, dtypes) => {
      const sess = await streamSession(this.engine, 'grad', this.dims, dtypes);
      const out = await sess.run({ ...feeds, Alpha: alphaT, Beta: betaT, GradIn: f32(grad, [M, D]) });
      grad = dataF32(out.grad!, 'grad');
    });
    return { loss: -this.scale * total, grad };
  }

  /** Loss and similarities at W [M,D]: one pass over the batch. */
  async evaluate(W: Float32Array): Promise<CblEvaluation> {
    const { G, M } = this.dims;
    const { sim } = this.columns(await this.columnSums(W));
    const columnSim = Float32Array.from(sim);
    const conceptSim = new Float32Array(M);
    let total = 0;
    for (let m = 0; m < M; m++) {
      let t = 0;
      for (let g = 0; g < G; g++) t += sim[g * M + m]!;
      conceptSim[m] = t / G;
      total += t;
    }
    return { loss: -this.scale * total, columnSim, conceptSim, meanSim: total / (G * M) };
  }
}

/**
 * GLM-SAGA (Wong, Santurkar & Mądry 2021; the `glm-saga` package): the regularisation path of a
 * multinomial logistic regression with the elastic net
 *
 *   min_{W,b}  mean_n CE(W x_n + b, y_n) + λ [ (1−α)/2 ‖W‖_F² + α ‖W‖_{1,1} ]
 *
 * solved with proximal SAGA over mini-batches. This is a port of `glm_saga.elasticnet.glm_saga`
 * (non-grouped, multinomial family, no sample weights):
 *
 * - SAGA memory: one scalar per (example, class), `a_n = softmax(W x_n + b) − onehot(y_n)` from
 *   the last time example n was visited (zero at the start), plus the running averages of the
 *   weight and bias gradients. For a batch B the update direction is
 *   `mean_B(a ⊗ x) − mean_B(a_prev ⊗ x) + avg`, and the averages move by
 *   `(new − prev)·|B|/N`. The memory is carried along the whole path (warm start).
 * - Prox step on W only: soft threshold at `lr·λ·α`, then shrink by `1/(1 + lr·λ·(1−α))`
 *   (pure soft threshold when α = 1). The bias is unregularised and takes a plain SAGA step.
 * - Per λ: at most `epochsPerLambda` epochs. Without `lookbehind`, a λ ends at the first batch whose
 *   update has `√(‖ΔW‖² + ‖Δb‖²) ≤ tol`; as in glm_saga that last update is discarded while
 *   its SAGA memory is kept. With `lookbehind`, the per-batch test is off and a λ ends when the
 *   epoch objective has not improved by `tol` for `lookbehind` epochs.
 * - Path: `λ_max = max_reg / max(0.001, α)` with `max_reg = max_{m,l} |Σ_n x_nm (y_nl − ȳ_l)| / N`
 *   (or given, like glm_saga's `metadata`), then `k` values log-spaced down to `epsilon·λ_max`,
 *   plus λ = 0 when `doZero` (glm_saga's default). Step sizes are log-spaced from `stepSize` to
 *   `stepSize / lrDecayFactor`; the λ = 0 point reuses the last.
 * - LF-CBM calls it with `maxReg = lam`, `k = 1`, `epsilon = 1`, `doZero = false`: one λ = lam/α.
 *
 * The per-batch work (logits, softmax, the two gradient GEMMs, the SAGA and prox updates) runs as
 * one ONNX Runtime graph, cached per (L, M); so does evaluation.
 *
 * Randomness: with `order: 'shuffle'` (the default, as LF-CBM's `DataLoader(shuffle=True)`) every
 * epoch visits the examples in a fresh permutation drawn from `Rng(seed)` (xoshiro128**, see
 * rng.ts); one generator serves the whole path, so a seed fixes the run. PyTorch's shuffling
 * cannot be reproduced; `order: 'sequential'` visits examples 0..N−1 in fixed batches every epoch,
 * exactly like a `DataLoader(shuffle=False)`, which is how the port is checked against the package.
 *
 * Scale: X (and the validation X) may be a RowMatrix read in blocks (e.g. an activations store,
 * standardised on the fly: row-matrix.ts) instead of an array. With `streaming: 'auto'` (the
 * default) a RowMatrix is loaded into memory when X, the validation X and the SAGA table fit
 * half of the usable memory budget (memory-budget.ts), and the run is then exactly the in-memory
 * one. Otherwise (or with `streaming: 'always'`) it streams: λ_max and the evaluations are
 * computed in passes over the blocks (in the same order and chunks as in memory, so with equal
 * results), and the epochs take their batches from windows of blocks with a *block shuffle*,
 * which differs from the in-memory permutation (saga-batches.ts); `order: 'sequential'` streams
 * the same batches as in memory and gives the same weights. The SAGA table stays in memory when
 * N·L float32 fit a quarter of the usable budget, else it lives in a scratch file (saga-batches.ts).
 */
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { Engine, getDefaultEngine, f32, dataF32, ort } from '../engine/session.js';
import { Rng } from '../rng.js';
import { parseMemoryBudget, rowsFor, usableBytes } from './memory-budget.js';
import { arrayMatrix, forEachRows, isRowMatrix, loadMatrix, type RowMatrix } from './row-matrix.js';
import { diskTable, memoryBatches, memoryTable, streamedBatches, type SagaBatch, type SagaTable } from './saga-batches.js';

/** Threshold below which a weight counts as zero (glm_saga's and LF-CBM's sparsity report). */
export const NONZERO_EPS = 1e-5;

/** Number of weights with |w| > 1e-5. */
export function nonZeros(W: ArrayLike<number>, eps = NONZERO_EPS): number {
  let n = 0;
  for (let i = 0; i < W.length; i++) if (Math.abs(W[i]!) > eps) n++;
  return n;
}

/** NEC (VLG-CBM): the mean number of non-zero weights per class of an L×M weight matrix. */
export function nec(W: ArrayLike<number>, L: number, M: number, eps = NONZERO_EPS): number {
  if (W.length !== L * M) throw new Error(`nec: ${W.length} weights for an ${L}×${M} matrix`);
  return nonZeros(W, eps) / L;
}

/** A labelled data set: X is N×M row-major (in memory, or read in blocks), y holds N class indices. */
export interface LabelledSet {
  X: Float32Array | RowMatrix;
  y: Int32Array;
}

/** Whether GLM-SAGA streams its inputs from blocks or holds them in memory (see the module comment). */
export type StreamingMode = 'auto' | 'always' | 'never';

/** Options of {@link glmSaga}. Defaults are glm_saga's unless noted. */
export interface GlmSagaOptions {
  /** Training inputs N×M row-major, in memory or read in blocks; glm_saga assumes them standardised. */
  X: Float32Array | RowMatrix;
  /** Class indices in [0, nClasses), length N. */
  y: Int32Array;
  nClasses: number;
  /** Elastic-net mixing α (1 = lasso); 0.99 (LF-CBM). */
  alpha?: number;
  /** SAGA step size (glm_saga's `max_lr`); 0.1 (LF-CBM). */
  stepSize?: number;
  /** Step sizes decay log-linearly to stepSize / lrDecayFactor along the path; 1. */
  lrDecayFactor?: number;
  /** Mini-batch size; 256 (LF-CBM). */
  batchSize?: number;
  /** Maximum epochs per λ (glm_saga's `nepochs`); 1000 (LF-CBM's n_iters). */
  epochsPerLambda?: number;
  /** Path length; 100. */
  k?: number;
  /** Smallest λ as a fraction of λ_max; 0.001. */
  epsilon?: number;
  /** Convergence tolerance; 1e-4. */
  tol?: number;
  /** Epochs without objective improvement before a λ ends (disables the per-batch test). */
  lookbehind?: number;
  /** Append λ = 0 to the path; true. */
  doZero?: boolean;
  /** max_reg given instead of computed (glm_saga's `metadata['max_reg']['nongrouped']`). */
  maxReg?: number;
  /** An explicit path, used as is (no λ_max, no λ = 0 appended); step sizes as above. */
  lambdas?: readonly number[];
  /** Batch order: fresh seeded permutation per epoch, or fixed 0..N−1; 'shuffle'. */
  order?: 'shuffle' | 'sequential';
  /** Seed of the shuffling; 0. */
  seed?: number;
  /** Validation set: its loss and accuracy are recorded at each path point. */
  val?: LabelledSet;
  /** Engine running the graphs; the process-wide CPU engine by default. */
  engine?: Engine;
  /** Called after every epoch, and with `point` set when a path point is done. */
  onProgress?: (p: GlmSagaProgress) => void;
  /** Bytes, or a size such as '4GiB'; the default budget (memory-budget.ts) when omitted. */
  memoryBudget?: number | string;
  /** 'auto' (default): stream only what does not fit the budget; 'always'; 'never' (load everything). */
  streaming?: StreamingMode;
  /** Streaming: rows loaded per window of blocks; from the budget (an eighth of the usable bytes) by default. */
  windowRows?: number;
  /** Streaming: where the SAGA table lives; 'auto' (memory when it fits a quarter of the usable budget). */
  sagaTable?: 'auto' | 'memory' | 'disk';
  /** Folder of the SAGA table's scratch file; the OS's temporary folder. */
  scratchDir?: string;
}

/** Progress of a path computation. */
export interface GlmSagaProgress {
  lambdaIndex: number;
  nLambdas: number;
  lambda: number;
  /** Epochs finished at this λ. */
  epoch: number;
  point?: PathPoint;
}

/** Why the solver left a λ. */
export type StopReason = 'tol' | 'lookbehind' | 'max-epochs';

/** One point of the regularisation path. */
export interface PathPoint {
  lambda: number;
  /** Step size used at this λ. */
  lr: number;
  alpha: number;
  /** Weights L×M row-major and bias L. */
  W: Float32Array;
  b: Float32Array;
  /** Elastic-net objective on the training set: mean cross-entropy + λ R(W). */
  loss: number;
  trainAcc: number;
  /** Same objective and accuracy on the validation set, when one was given. */
  valLoss?: number;
  valAcc?: number;
  /** Weights with |w| > 1e-5, and that count per class. */
  nnz: number;
  nec: number;
  /** Epochs run (the last one possibly partial) and why it stopped. */
  epochs: number;
  stop: StopReason;
}

const EVAL_CHUNK = 8192;

/** k values log-spaced from `first` to `last` inclusive, as torch.logspace (ends exact). */
function logspace(first: number, last: number, k: number): number[] {
  if (k === 1) return [first];
  const a = Math.log10(first);
  const b = Math.log10(last);
  return Array.from({ length: k }, (_, i) => (i === 0 ? first : i === k - 1 ? last : 10 ** (a + ((b - a) * i) / (k - 1))));
}

/**
 * glm_saga's `maximum_reg` (non-grouped): max over concepts and classes of
 * |Σ_n x_nm (onehot(y_n)_l − ȳ_l)| / N. Accumulated in float64.
 */
export function maximumReg(X: Float32Array, y: Int32Array, nClasses: number): number {
  const N = y.length;
  const M = X.length / N;
  const acc = regSums(nClasses, M);
  addRegSums(acc, X, y, 0, N, M);
  return finishReg(acc, N, nClasses, M);
}

/** {@link maximumReg} of a matrix read in blocks: the same sums in the same order, so the same value. */
export async function maximumRegStreamed(X: RowMatrix, y: Int32Array, nClasses: number): Promise<number> {
  const acc = regSums(nClasses, X.m);
  await forEachRows(X, EVAL_CHUNK, (part, first, k) => addRegSums(acc, part, y, first, k, X.m));
  return finishReg(acc, y.length, nClasses, X.m);
}

interface RegSums {
  classSum: Float64Array;
  colSum: Float64Array;
  count: Float64Array;
}

function regSums(nClasses: number, M: number): RegSums {
  return { classSum: new Float64Array(nClasses * M), colSum: new Float64Array(M), count: new Float64Array(nClasses) };
}

/** Adds rows X (k×M), examples first..first+k−1, to the sums. */
function addRegSums({ classSum, colSum, count }: RegSums, X: Float32Array, y: Int32Array, first: number, k: number, M: number): void {
  for (let i = 0; i < k; i++) {
    const l = y[first + i]!;
    count[l]! += 1;
    const row = i * M;
    const base = l * M;
    for (let m = 0; m < M; m++) {
      const v = X[row + m]!;
      classSum[base + m]! += v;
      colSum[m]! += v;
    }
  }
}

function finishReg({ classSum, colSum, count }: RegSums, N: number, nClasses: number, M: number): number {
  let best = 0;
  for (let l = 0; l < nClasses; l++) {
    const ybar = count[l]! / N;
    for (let m = 0; m < M; m++) best = Math.max(best, Math.abs(classSum[l * M + m]! - colSum[m]! * ybar));
  }
  return best / N;
}

/** The λ and step-size schedule glm_saga would run for these options. */
export function lambdaPath(
  opts: Pick<GlmSagaOptions, 'X' | 'y' | 'nClasses' | 'alpha' | 'stepSize' | 'lrDecayFactor' | 'k' | 'epsilon' | 'doZero' | 'maxReg' | 'lambdas'>,
): { lambdas: number[]; lrs: number[] } {
  const alpha = opts.alpha ?? 0.99;
  const lr = opts.stepSize ?? 0.1;
  const decay = opts.lrDecayFactor ?? 1;
  if (opts.lambdas) {
    if (opts.lambdas.length === 0) throw new Error('glmSaga: lambdas is empty');
    for (const l of opts.lambdas) if (!(l >= 0)) throw new Error(`glmSaga: λ must be ≥ 0, got ${l}`);
    return { lambdas: [...opts.lambdas], lrs: logspace(lr, lr / decay, opts.lambdas.length) };
  }
  const k = opts.k ?? 100;
  const epsilon = opts.epsilon ?? 0.001;
  if (!Number.isInteger(k) || k < 1) throw new Error(`glmSaga: k must be a positive integer, got ${k}`);
  if (!(epsilon > 0)) throw new Error(`glmSaga: epsilon must be > 0, got ${epsilon}`);
  if (opts.maxReg === undefined && isRowMatrix(opts.X)) throw new Error('lambdaPath: give maxReg for streamed X (maximumRegStreamed computes it)');
  const maxReg = opts.maxReg ?? maximumReg(opts.X as Float32Array, opts.y, opts.nClasses);
  const maxLam = maxReg / Math.max(0.001, alpha);
  if (!(maxLam > 0)) throw new Error('glmSaga: λ_max is 0 (constant inputs or a single class)');
  const lambdas = logspace(maxLam, epsilon * maxLam, k);
  const lrs = logspace(lr, lr / decay, k);
  if (opts.doZero ?? true) {
    lambdas.push(0);
    lrs.push(lrs[lrs.length - 1]!);
  }
  return { lambdas, lrs };
}

/** The SAGA step graph for L classes and M features; batch size is symbolic. */
function buildStepGraph(L: number, M: number): Uint8Array {
  const g = new GraphBuilder(`saga_step_${L}x${M}`);
  const X = g.input('X', 'float32', ['B', M]);
  const Y = g.input('Y', 'int64', ['B']);
  const Aprev = g.input('Aprev', 'float32', ['B', L]);
  const W = g.input('W', 'float32', [L, M]);
  const bias = g.input('b', 'float32', [L]);
  const Wavg = g.input('Wavg', 'float32', [L, M]);
  const bavg = g.input('bavg', 'float32', [L]);
  const lr = g.input('lr', 'float32', [1]);
  const thr = g.input('thr', 'float32', [1]);
  const den = g.input('den', 'float32', [1]);
  const invB = g.input('invB', 'float32', [1]);
  const scale = g.input('scale', 'float32', [1]);

  const Z = g.op('Gemm', [X, W, bias], { transB: attr.i(1) });
  const onehot = g.op('OneHot', [Y, g.constI64([L]), g.constF32([0, 1])], { axis: attr.i(-1) });
  const A = g.op('Sub', [g.op('Softmax', [Z], { axis: attr.i(1) }), onehot], {}, 'A');
  const D = g.op('Sub', [A, Aprev]);
  const gW = g.op('Mul', [g.op('MatMul', [g.op('Transpose', [D], { perm: attr.ints([1, 0]) }), X]), invB]);
  const gb = g.op('Mul', [g.op('ReduceSum', [D, g.constI64([0])], { keepdims: attr.i(0) }), invB]);
  const V = g.op('Sub', [W, g.op('Mul', [lr, g.op('Add', [gW, Wavg])])]);
  const soft = g.op('Mul', [g.op('Sign', [V]), g.op('Relu', [g.op('Sub', [g.op('Abs', [V]), thr])])]);
  const Wn = g.op('Div', [soft, den], {}, 'Wnew');
  const bn = g.op('Sub', [bias, g.op('Mul', [lr, g.op('Add', [gb, bavg])])], {}, 'bnew');
  g.op('Add', [Wavg, g.op('Mul', [gW, scale])], {}, 'WavgNew');
  g.op('Add', [bavg, g.op('Mul', [gb, scale])], {}, 'bavgNew');
  const dW = g.op('Sub', [Wn, W]);
  const db = g.op('Sub', [bn, bias]);
  g.op(
    'Add',
    [g.op('ReduceSum', [g.op('Mul', [dW, dW])], { keepdims: attr.i(0) }), g.op('ReduceSum', [g.op('Mul', [db, db])], { keepdims: attr.i(0) })],
    {},
    'crit2',
  );
  const ls = g.op('LogSoftmax', [Z], { axis: attr.i(1) });
  g.op('Neg', [g.op('ReduceSum', [g.op('Mul', [onehot, ls])], { keepdims: attr.i(0) })], {}, 'ceSum');
  g.output('Wnew', 'float32', [L, M]);
  g.output('bnew', 'float32', [L]);
  g.output('WavgNew', 'float32', [L, M]);
  g.output('bavgNew', 'float32', [L]);
  g.output('A', 'float32', ['B', L]);
  g.output('crit2', 'float32', []);
  g.output('ceSum', 'float32', []);
  return g.toBytes();
}

/** Summed cross-entropy and number of correct argmax predictions for a batch. */
function buildEvalGraph(L: number, M: number): Uint8Array {
  const g = new GraphBuilder(`glm_eval_${L}x${M}`);
  const X = g.input('X', 'float32', ['B', M]);
  const Y = g.input('Y', 'int64', ['B']);
  const W = g.input('W', 'float32', [L, M]);
  const bias = g.input('b', 'float32', [L]);
  const Z = g.op('Gemm', [X, W, bias], { transB: attr.i(1) });
  const onehot = g.op('OneHot', [Y, g.constI64([L]), g.constF32([0, 1])], { axis: attr.i(-1) });
  const ls = g.op('LogSoftmax', [Z], { axis: attr.i(1) });
  g.op('Neg', [g.op('ReduceSum', [g.op('Mul', [onehot, ls])], { keepdims: attr.i(0) })], {}, 'ceSum');
  const pred = g.op('ArgMax', [Z], { axis: attr.i(1), keepdims: attr.i(0) });
  g.op('ReduceSum', [g.op('Cast', [g.op('Equal', [pred, Y])], { to: attr.i(1) })], { keepdims: attr.i(0) }, 'correct');
  g.output('ceSum', 'float32', []);
  g.output('correct', 'float32', []);
  return g.toBytes();
}

/** Inputs of one SAGA step (see {@link sagaStep}). */
export interface SagaStepInputs {
  /** Batch rows B×M and labels. */
  X: Float32Array;
  y: Int32Array;
  /** SAGA memory of these rows, B×L. */
  Aprev: Float32Array;
  W: Float32Array;
  b: Float32Array;
  Wavg: Float32Array;
  bavg: Float32Array;
  lr: number;
  lambda: number;
  alpha: number;
  /** Training-set size N (the averages move by B/N). */
  nTotal: number;
}

/** Outputs of one SAGA step. */
export interface SagaStepOutputs {
  W: Float32Array;
  b: Float32Array;
  Wavg: Float32Array;
  bavg: Float32Array;
  /** New SAGA memory of the batch rows, B×L. */
  A: Float32Array;
  /** √(‖ΔW‖² + ‖Δb‖²), glm_saga's convergence criterion. */
  criterion: number;
  /** Summed cross-entropy of the batch at the old weights. */
  ceSum: number;
}

function labels64(y: Int32Array): BigInt64Array {
  const out = new BigInt64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = BigInt(y[i]!);
  return out;
}

/** One proximal SAGA step on a batch, in ONNX Runtime. Exposed for testing and reuse. */
export async function sagaStep(engine: Engine, L: number, M: number, s: SagaStepInputs): Promise<SagaStepOutputs> {
  const B = s.y.length;
  const session = await engine.cached(`glm_saga_step:${L}x${M}`, () => buildStepGraph(L, M));
  const scalar = (v: number): ort.Tensor => f32(Float32Array.of(v), [1]);
  const out = await session.run({
    X: f32(s.X, [B, M]),
    Y: new ort.Tensor('int64', labels64(s.y), [B]),
    Aprev: f32(s.Aprev, [B, L]),
    W: f32(s.W, [L, M]),
    b: f32(s.b, [L]),
    Wavg: f32(s.Wavg, [L, M]),
    bavg: f32(s.bavg, [L]),
    lr: scalar(s.lr),
    thr: scalar(s.lr * s.lambda * s.alpha),
    den: scalar(1 + s.lr * s.lambda * (1 - s.alpha)),
    invB: scalar(1 / B),
    scale: scalar(B / s.nTotal),
  });
  return {
    W: dataF32(out.Wnew!, 'Wnew'),
    b: dataF32(out.bnew!, 'bnew'),
    Wavg: dataF32(out.WavgNew!, 'WavgNew'),
    bavg: dataF32(out.bavgNew!, 'bavgNew'),
    A: dataF32(out.A!, 'A'),
    criterion: Math.sqrt(dataF32(out.crit2!, 'crit2')[0]!),
    ceSum: dataF32(out.ceSum!, 'ceSum')[0]!,
  };
}

/**
 * Mean cross-entropy and accuracy of the linear model (W, b) on a data set, in ONNX Runtime, in
 * chunks of 8192 rows (read in order from the blocks of a streamed X: the same chunks, the same
 * sums). Ties in the argmax go to the lowest class index.
 */
export async function evaluateLinear(
  engine: Engine,
  W: Float32Array,
  b: Float32Array,
  data: LabelledSet,
  L: number,
  M: number,
): Promise<{ ce: number; acc: number }> {
  const N = data.y.length;
  if (N === 0) return { ce: NaN, acc: NaN };
  const session = await engine.cached(`glm_eval:${L}x${M}`, () => buildEvalGraph(L, M));
  let ce = 0;
  let correct = 0;
  const tW = f32(W, [L, M]);
  const tb = f32(b, [L]);
  const X = isRowMatrix(data.X) ? data.X : arrayMatrix(data.X, N, M);
  await forEachRows(X, EVAL_CHUNK, async (part, start, k) => {
    const out = await session.run({
      X: f32(part, [k, M]),
      Y: new ort.Tensor('int64', labels64(data.y.subarray(start, start + k)), [k]),
      W: tW,
      b: tb,
    });
    ce += dataF32(out.ceSum!)[0]!;
    correct += dataF32(out.correct!)[0]!;
  });
  return { ce: ce / N, acc: correct / N };
}

/** λ R(W) = λ [ (1−α)/2 ‖W‖² + α ‖W‖₁ ]. */
export function elasticPenalty(W: Float32Array, lambda: number, alpha: number): number {
  let l1 = 0;
  let l2 = 0;
  for (let i = 0; i < W.length; i++) {
    const w = W[i]!;
    l1 += Math.abs(w);
    l2 += w * w;
  }
  return lambda * alpha * l1 + 0.5 * lambda * (1 - alpha) * l2;
}

function checkSet(name: string, X: Float32Array | RowMatrix, y: Int32Array, M: number | undefined, nClasses: number): number {
  const N = y.length;
  if (N === 0) throw new Error(`glmSaga: ${name} set is empty`);
  let m: number;
  if (isRowMatrix(X)) {
    if (X.n !== N) throw new Error(`glmSaga: ${name} X has ${X.n} rows, y has ${N} labels`);
    m = X.m;
  } else {
    if (X.length % N !== 0) throw new Error(`glmSaga: ${name} X has ${X.length} values, not a multiple of N = ${N}`);
    m = X.length / N;
  }
  if (M !== undefined && m !== M) throw new Error(`glmSaga: ${name} X has ${m} features, training has ${M}`);
  for (let i = 0; i < N; i++) {
    const l = y[i]!;
    if (!(l >= 0 && l < nClasses)) throw new Error(`glmSaga: ${name} label ${l} at ${i} is outside [0, ${nClasses})`);
  }
  return m;
}

/** How a run holds its data: in memory, or streamed with a window size and a table. */
interface Plan {
  X: Float32Array | RowMatrix;
  val?: LabelledSet;
  streamed: boolean;
  windowRows: number;
  table: SagaTable;
}

/** Decides between the in-memory and the streamed run (see the module comment). */
function plan(opts: GlmSagaOptions, N: number, M: number, L: number): Plan {
  const mode = opts.streaming ?? 'auto';
  if (mode !== 'auto' && mode !== 'always' && mode !== 'never')
    throw new Error(`glmSaga: streaming must be 'auto', 'always' or 'never', got '${String(mode)}'`);
  const usable = usableBytes(parseMemoryBudget(opts.memoryBudget));
  const valRows = opts.val?.y.length ?? 0;
  const fits = (N + valRows) * M * 4 + N * L * 4 <= usable / 2;
  const streamed = mode === 'always' || (mode === 'auto' && isRowMatrix(opts.X) && !fits);
  if (!streamed) {
    const X = isRowMatrix(opts.X) ? loadMatrix(opts.X) : opts.X;
    const val = opts.val && isRowMatrix(opts.val.X) ? { X: loadMatrix(opts.val.X), y: opts.val.y } : opts.val;
    return { X, val, streamed, windowRows: N, table: memoryTable(N, L) };
  }
  const X = isRowMatrix(opts.X) ? opts.X : arrayMatrix(opts.X, N, M);
  const windowRows = opts.windowRows ?? rowsFor(usable / 8, M * 4, { min: 1 });
  if (!Number.isInteger(windowRows) || windowRows < 1) throw new Error(`glmSaga: windowRows must be a positive integer, got ${windowRows}`);
  const where = opts.sagaTable ?? 'auto';
  if (where !== 'auto' && where !== 'memory' && where !== 'disk')
    throw new Error(`glmSaga: sagaTable must be 'auto', 'memory' or 'disk', got '${String(where)}'`);
  const inMemory = where === 'memory' || (where === 'auto' && N * L * 4 <= usable / 4);
  return { X, val: opts.val, streamed, windowRows, table: inMemory ? memoryTable(N, L) : diskTable(N, L, opts.scratchDir) };
}

/**
 * Computes the elastic-net regularisation path with proximal SAGA, as glm_saga does; weights and
 * bias start at zero and are warm-started along the path. Returns one point per λ.
 */
export async function glmSaga(opts: GlmSagaOptions): Promise<PathPoint[]> {
  const { y, nClasses: L } = opts;
  if (!Number.isInteger(L) || L < 2) throw new Error(`glmSaga: nClasses must be an integer ≥ 2, got ${L}`);
  const M = checkSet('training', opts.X, y, undefined, L);
  if (opts.val) checkSet('validation', opts.val.X, opts.val.y, M, L);
  const N = y.length;
  const alpha = opts.alpha ?? 0.99;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`glmSaga: alpha must be in [0, 1], got ${alpha}`);
  const batchSize = opts.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`glmSaga: batchSize must be a positive integer, got ${batchSize}`);
  const epochs = opts.epochsPerLambda ?? 1000;
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`glmSaga: epochsPerLambda must be a positive integer, got ${epochs}`);
  const order = opts.order ?? 'shuffle';
  if (order !== 'shuffle' && order !== 'sequential') throw new Error(`glmSaga: order must be 'shuffle' or 'sequential', got '${String(order)}'`);
  const engine = opts.engine ?? getDefaultEngine();
  const p = plan(opts, N, M, L);
  try {
    const maxReg = opts.maxReg ?? (opts.lambdas || !isRowMatrix(p.X) ? undefined : await maximumRegStreamed(p.X, y, L));
    const { lambdas, lrs } = lambdaPath({ ...opts, X: p.X, maxReg });
    const batches = (rng: Rng): Iterable<SagaBatch> =>
      isRowMatrix(p.X) ? streamedBatches(p.X, y, batchSize, order, rng, p.windowRows) : memoryBatches(p.X, y, M, batchSize, order, rng);
    return await runPath(opts, { engine, L, M, N, alpha, epochs, lambdas, lrs, batches, table: p.table, train: { X: p.X, y }, val: p.val });
  } finally {
    p.table.dispose();
  }
}

interface PathRun {
  engine: Engine;
  L: number;
  M: number;
  N: number;
  alpha: number;
  epochs: number;
  lambdas: number[];
  lrs: number[];
  /** The batches of one epoch, drawing from the run's generator. */
  batches: (rng: Rng) => Iterable<SagaBatch>;
  table: SagaTable;
  train: LabelledSet;
  val?: LabelledSet;
}

/** The path loop of {@link glmSaga}, whatever holds the data. */
async function runPath(opts: GlmSagaOptions, r: PathRun): Promise<PathPoint[]> {
  const { engine, L, M, N, alpha, epochs, lambdas, lrs, table } = r;
  const tol = opts.tol ?? 1e-4;
  const lookbehind = opts.lookbehind;
  const rng = new Rng(opts.seed ?? 0);
  let W: Float32Array = new Float32Array(L * M);
  let b: Float32Array = new Float32Array(L);
  let Wavg: Float32Array = new Float32Array(L * M);
  let bavg: Float32Array = new Float32Array(L);
  const aBuf = new Float32Array(Math.min(opts.batchSize ?? 256, N) * L);

  const path: PathPoint[] = [];
  for (let li = 0; li < lambdas.length; li++) {
    const lambda = lambdas[li]!;
    const lr = lrs[li]!;
    let stop: StopReason = 'max-epochs';
    let epochsRun = 0;
    let objBest: number | undefined;
    let noImprove = 0;
    for (let epoch = 0; epoch < epochs && stop === 'max-epochs'; epoch++) {
      epochsRun = epoch + 1;
      let lossSum = 0;
      for (const batch of r.batches(rng)) {
        const { B, idx } = batch;
        const ab = aBuf.subarray(0, B * L);
        table.read(idx, B, ab);
        const s = await sagaStep(engine, L, M, { X: batch.X, y: batch.y, Aprev: ab, W, b, Wavg, bavg, lr, lambda, alpha, nTotal: N });
        lossSum += s.ceSum;
        table.write(idx, B, s.A);
        Wavg = s.Wavg;
        bavg = s.bavg;
        if (lookbehind === undefined && s.criterion <= tol) {
          stop = 'tol';
          break;
        }
        W = s.W;
        b = s.b;
      }
      if (stop === 'max-epochs' && lookbehind !== undefined) {
        const obj = lossSum / N + elasticPenalty(W, lambda, alpha);
        if (objBest === undefined || obj + tol < objBest) {
          objBest = obj;
          noImprove = 0;
        } else {
          noImprove += 1;
        }
        if (noImprove >= lookbehind) stop = 'lookbehind';
      }
      opts.onProgress?.({ lambdaIndex: li, nLambdas: lambdas.length, lambda, epoch: epochsRun });
    }

    const pen = elasticPenalty(W, lambda, alpha);
    const tr = await evaluateLinear(engine, W, b, r.train, L, M);
    const point: PathPoint = {
      lambda,
      lr,
      alpha,
      W: W.slice(),
      b: b.slice(),
      loss: tr.ce + pen,
      trainAcc: tr.acc,
      nnz: nonZeros(W),
      nec: nec(W, L, M),
      epochs: epochsRun,
      stop,
    };
    if (r.val) {
      const va = await evaluateLinear(engine, W, b, r.val, L, M);
      point.valLoss = va.ce + pen;
      point.valAcc = va.acc;
    }
    path.push(point);
    opts.onProgress?.({ lambdaIndex: li, nLambdas: lambdas.length, lambda, epoch: epochsRun, point });
  }
  return path;
}

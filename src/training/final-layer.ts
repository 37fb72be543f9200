/**
 * The final layer of SALF-CBM (SPEC step 4): a linear classifier on standardised pooled concept
 * activations, W_F [L×M] and b_F [L].
 *
 * - `sparse` (default): GLM-SAGA with the elastic net, α = 0.99. As LF-CBM, a single
 *   λ = lam/α (lam = 7e-4 by default) unless a path is asked for: `path: { k, epsilon }` runs k
 *   values log-spaced from λ_max (glm_saga's, from the data) down to epsilon·λ_max, and
 *   `lambdas` runs an explicit list. One path point is then chosen (see {@link SelectRule}).
 * - `dense`: plain multinomial logistic regression (the paper's "non-sparse" rows), trained with
 *   the same SAGA solver at α = 0 and λ = `l2` (default 0, no penalty): mini-batch
 *   variance-reduced gradient steps until the glm_saga criterion √(‖ΔW‖² + ‖Δb‖²) ≤ tol or the
 *   epoch budget ends.
 *
 * The activations may be arrays or RowMatrix sources read in blocks (e.g. an activations store
 * standardised on the fly: `standardisedMatrix(storeMatrix(store, 'activations', rows), s)`);
 * GLM-SAGA then holds them in memory when they fit the memory budget and streams them otherwise
 * (see glm-saga.ts).
 */
import type { Engine } from '../engine/session.js';
import { glmSaga, nec, nonZeros, type GlmSagaProgress, type PathPoint, type StopReason, type StreamingMode } from './glm-saga.js';
import type { RowMatrix } from './row-matrix.js';
import { TRAINING_DEFAULTS } from './defaults.js';

export { nec, nonZeros };

/**
 * How a path point is chosen: `nec` takes the point whose NEC is closest to `targetNec` without
 * exceeding it (the sparsest point when all exceed it); `val-accuracy` the best validation
 * accuracy (ties: fewer non-zeros); `val-loss` the lowest validation objective (glm_saga's
 * "best"); `last` the last point (smallest λ).
 */
export type SelectRule = 'nec' | 'val-accuracy' | 'val-loss' | 'last';

/** Options of {@link trainFinalLayer}. */
export interface FinalLayerOptions {
  /** Standardised training activations N×M (in memory or read in blocks) and labels. */
  Xtrain: Float32Array | RowMatrix;
  ytrain: Int32Array;
  /** Standardised validation activations and labels (optional; needed by the val-* rules). */
  Xval?: Float32Array | RowMatrix;
  yval?: Int32Array;
  nClasses: number;
  /** 'sparse' (elastic net, default) or 'dense'. */
  mode?: 'sparse' | 'dense';
  /** LF-CBM's sparsity parameter; the single λ is lam/α. 7e-4 (LF-CBM's CIFAR default). */
  lam?: number;
  /** Elastic-net mixing; 0.99. */
  alpha?: number;
  /** Run a regularisation path from glm_saga's λ_max instead of the single λ. */
  path?: { k: number; epsilon?: number };
  /** Run this explicit list of λ instead. */
  lambdas?: readonly number[];
  /** NEC target for the `nec` rule. */
  targetNec?: number;
  /** Choice of path point; `nec` when targetNec is set, else `val-accuracy` with a validation set, else `last`. */
  select?: SelectRule;
  /** Dense mode's L2 weight λ (with α = 0); 0. */
  l2?: number;
  /** Solver settings (glm_saga / LF-CBM defaults): step 0.1, batch 256, 1000 epochs per λ, tol 1e-4. */
  stepSize?: number;
  batchSize?: number;
  epochsPerLambda?: number;
  tol?: number;
  lookbehind?: number;
  /** Batch order and its seed, see glmSaga. */
  order?: 'shuffle' | 'sequential';
  seed?: number;
  engine?: Engine;
  onProgress?: (p: GlmSagaProgress) => void;
  /** Memory budget (bytes or '4GiB'), streaming mode, window rows, SAGA table place and scratch folder: see glmSaga. */
  memoryBudget?: number | string;
  streaming?: StreamingMode;
  windowRows?: number;
  sagaTable?: 'auto' | 'memory' | 'disk';
  scratchDir?: string;
}

/** A path point without its weights. */
export interface PathSummary {
  lambda: number;
  lr: number;
  loss: number;
  trainAcc: number;
  valLoss?: number;
  valAcc?: number;
  nnz: number;
  nec: number;
  epochs: number;
  stop: StopReason;
}

/** The trained final layer. */
export interface FinalLayer {
  mode: 'sparse' | 'dense';
  /** Weights L×M row-major and bias L of the chosen point. */
  W: Float32Array;
  b: Float32Array;
  lambda: number;
  path: PathSummary[];
  /** Index of the chosen point in `path`. */
  chosen: number;
  metrics: { nnz: number; nec: number; trainAcc: number; valAcc?: number };
}

/** Index of the point chosen by `rule` (see {@link SelectRule}). */
export function selectPathPoint(path: readonly PathSummary[], rule: SelectRule, targetNec?: number): number {
  if (path.length === 0) throw new Error('selectPathPoint: empty path');
  const idx = path.map((_, i) => i);
  switch (rule) {
    case 'last':
      return path.length - 1;
    case 'nec': {
      if (targetNec === undefined || !(targetNec >= 0)) throw new Error('selectPathPoint: the nec rule needs targetNec ≥ 0');
      const under = idx.filter((i) => path[i]!.nec <= targetNec);
      if (under.length === 0) return idx.reduce((a, i) => (path[i]!.nec < path[a]!.nec ? i : a));
      const score = (i: number): number => path[i]!.valAcc ?? path[i]!.trainAcc;
      // Closest to the target from below; equal NEC: the better accuracy, then the earlier point.
      return under.reduce((a, i) => {
        const pa = path[a]!;
        const pi = path[i]!;
        if (pi.nec !== pa.nec) return pi.nec > pa.nec ? i : a;
        return score(i) > score(a) ? i : a;
      });
    }
    case 'val-accuracy':
    case 'val-loss': {
      if (path.some((p) => p.valAcc === undefined)) throw new Error(`selectPathPoint: rule ${rule} needs a validation set`);
      if (rule === 'val-loss') return idx.reduce((a, i) => (path[i]!.valLoss! < path[a]!.valLoss! ? i : a));
      return idx.reduce((a, i) => {
        const pa = path[a]!;
        const pi = path[i]!;
        if (pi.valAcc! !== pa.valAcc!) return pi.valAcc! > pa.valAcc! ? i : a;
        return pi.nnz < pa.nnz ? i : a;
      });
    }
    default:
      throw new Error(`selectPathPoint: unknown rule '${String(rule)}'`);
  }
}

function summary(p: PathPoint): PathSummary {
  const s: PathSummary = {
    lambda: p.lambda,
    lr: p.lr,
    loss: p.loss,
    trainAcc: p.trainAcc,
    nnz: p.nnz,
    nec: p.nec,
    epochs: p.epochs,
    stop: p.stop,
  };
  if (p.valAcc !== undefined) {
    s.valLoss = p.valLoss;
    s.valAcc = p.valAcc;
  }
  return s;
}

/** Trains the final layer (sparse GLM-SAGA or dense) and returns the chosen weights with the path. */
export async function trainFinalLayer(opts: FinalLayerOptions): Promise<FinalLayer> {
  const mode = opts.mode ?? TRAINING_DEFAULTS.finalMode;
  if (mode !== 'sparse' && mode !== 'dense') throw new Error(`trainFinalLayer: mode must be 'sparse' or 'dense', got '${String(mode)}'`);
  if ((opts.Xval === undefined) !== (opts.yval === undefined)) throw new Error('trainFinalLayer: give both Xval and yval, or neither');
  const val = opts.Xval && opts.yval ? { X: opts.Xval, y: opts.yval } : undefined;
  const common = {
    X: opts.Xtrain,
    y: opts.ytrain,
    nClasses: opts.nClasses,
    stepSize: opts.stepSize ?? 0.1,
    batchSize: opts.batchSize ?? 256,
    epochsPerLambda: opts.epochsPerLambda ?? TRAINING_DEFAULTS.epochsPerLambda,
    tol: opts.tol ?? 1e-4,
    lookbehind: opts.lookbehind,
    order: opts.order,
    seed: opts.seed,
    val,
    engine: opts.engine,
    onProgress: opts.onProgress,
    memoryBudget: opts.memoryBudget,
    streaming: opts.streaming,
    windowRows: opts.windowRows,
    sagaTable: opts.sagaTable,
    scratchDir: opts.scratchDir,
  };

  let points: PathPoint[];
  if (mode === 'dense') {
    const l2 = opts.l2 ?? 0;
    if (!(l2 >= 0)) throw new Error(`trainFinalLayer: l2 must be ≥ 0, got ${l2}`);
    points = await glmSaga({ ...common, alpha: 0, lambdas: [l2] });
  } else {
    const alpha = opts.alpha ?? 0.99;
    if (opts.lambdas) {
      points = await glmSaga({ ...common, alpha, lambdas: opts.lambdas });
    } else if (opts.path) {
      points = await glmSaga({ ...common, alpha, k: opts.path.k, epsilon: opts.path.epsilon ?? 0.001, doZero: false });
    } else {
      const lam = opts.lam ?? TRAINING_DEFAULTS.lam;
      if (!(lam > 0)) throw new Error(`trainFinalLayer: lam must be > 0, got ${lam}`);
      // LF-CBM: glm_saga(..., k=1, epsilon=1, do_zero=False, metadata max_reg = lam) → λ = lam/α.
      points = await glmSaga({ ...common, alpha, maxReg: lam, k: 1, epsilon: 1, doZero: false });
    }
  }

  const path = points.map(summary);
  const rule: SelectRule = opts.select ?? (opts.targetNec !== undefined ? 'nec' : val ? 'val-accuracy' : 'last');
  const chosen = selectPathPoint(path, rule, opts.targetNec);
  const p = points[chosen]!;
  const metrics: FinalLayer['metrics'] = { nnz: p.nnz, nec: p.nec, trainAcc: p.trainAcc };
  if (p.valAcc !== undefined) metrics.valAcc = p.valAcc;
  return { mode, W: p.W, b: p.b, lambda: p.lambda, path, chosen, metrics };
}

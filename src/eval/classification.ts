/**
 * Top-1 classification accuracy of SALF-CBM and its baselines on one split of an image folder
 * (SPEC "Evaluation protocols"), every method on the same backbone, images and splits:
 *
 * - `standard`: the backbone's own classifier (its logits tensor), when it has one and its class
 *   count matches the data set's (classes are assumed to be in the same order);
 * - `standard-sparse`: global-average-pooled backbone features, standardised, with LF-CBM's
 *   sparse final layer (GLM-SAGA, elastic net α = 0.99, λ = lam/α);
 * - `lfcbm`: a non-spatial label-free CBM (Oikarinen et al. 2023): whole-image CLIP embeddings
 *   give P = I·Tᵀ, a concept layer on the pooled features is trained with the same cubic cosine
 *   loss and schedule (train-cbl.ts with a 1×1 "grid"), the interpretability cutoff drops weak
 *   concepts, then the same standardisation and sparse final layer;
 * - `salf`: the SALF-CBM's pooled concept activations with its own standardisation; `sparse` is
 *   the model's own final layer when it was trained sparse (else trained here with lam), `dense`
 *   a non-sparse final layer trained here (the paper's "non-sparse" row).
 *
 * Accuracy as a function of NEC: for standard-sparse, lfcbm and salf, a regularisation path from
 * λ_max down is computed once, and for each target NEC the point with NEC closest to the target
 * from below is chosen (selectPathPoint's `nec` rule) and evaluated on the split.
 *
 * Features (pooled backbone features, SALF activations, backbone logits, CLIP image embeddings)
 * are computed in shards that are cached, so an interrupted run resumes.
 */
import { openDataset } from '../data/datasets.js';
import { iterateBatches, type Sample, type SplitName } from '../data/image-folder.js';
import { clipPreprocess, preprocessImage } from '../data/resize.js';
import { GraphBuilder } from '../engine/onnx-builder.js';
import { Engine, dataF32, f32, type Device } from '../engine/session.js';
import type { Backbone } from '../models/backbone.js';
import { ClipModel } from '../models/clip.js';
import { SalfCbm } from '../models/salf-cbm.js';
import { silentProgress, type Progress } from '../progress.js';
import { trainFinalLayer, selectPathPoint } from '../training/final-layer.js';
import { evaluateLinear, glmSaga, nec, nonZeros } from '../training/glm-saga.js';
import { applyStandardiser, fitStandardiser, type Standardiser } from '../training/standardise.js';
import { trainWithCutoff } from '../training/train-cbl.js';
import { globalAverage, loadNativeBackbone } from './native-backbone.js';
import { resizeFeatureGrid } from './resample.js';
import { RowStore, type FieldSpec } from '../store/row-store.js';
import { arraysIdentity, fileIdentity } from '../store/fingerprint.js';
import { ShardCache } from './shard-cache.js';

/** The compared methods. */
export type ClsMethod = 'standard' | 'standard-sparse' | 'lfcbm' | 'salf';
export const CLS_METHODS: readonly ClsMethod[] = ['standard', 'standard-sparse', 'lfcbm', 'salf'];

/** Options of {@link evaluateClassification}. */
export interface ClassificationEvalOptions {
  /** A trained SALF-CBM (directory or loaded); its backbone, grid and concepts are used. */
  model: string | SalfCbm;
  /** The data, `<kind>:<path>` or a detected layout (src/data/datasets.ts), with the model's classes (same names). */
  data: string;
  /**
   * Split file (folder kind); otherwise a stratified hold-out of valFraction (and, folder kind
   * only, testFraction). Official layouts evaluate their official test/val set as `test`.
   */
  splitFile?: string;
  valFraction?: number;
  testFraction?: number;
  /** Split evaluated; `test`. Final layers train on `train`; `val` picks path points. */
  split?: Exclude<SplitName, 'train'>;
  methods?: readonly ClsMethod[];
  /** CLIP for LF-CBM; the model's own (config.clip.source) by default. */
  clip?: string;
  /** LF-CBM's concepts; the SALF-CBM's by default. */
  lfcbmConcepts?: readonly string[];
  /** The backbone's logits tensor for the `standard` row, overriding the model's config. */
  logitsTensor?: string;
  /** LF-CBM's sparsity parameter, λ = lam/0.99; the SALF-CBM's own λ·0.99 when it is sparse, else 7e-4. */
  lam?: number;
  /** Most epochs of the single-λ sparse and the dense fits; 1000. */
  epochs?: number;
  /** NEC targets; 5, 10, 15, 20, 25, 30. An empty list skips the paths. */
  necTargets?: readonly number[];
  /** The regularisation path: k points from λ_max to epsilon·λ_max, at most `epochs` epochs each (25, 1e-3, 200). */
  path?: { k?: number; epsilon?: number; epochs?: number };
  /** LF-CBM concept layer: LF-CBM's schedule and cutoff 0.45 by default. */
  lfcbm?: { lr?: number; maxSteps?: number; stepSamples?: number; valEvery?: number; cutoff?: number };
  /** Images per backbone batch (32) and per cached shard (256). */
  batchSize?: number;
  shardSize?: number;
  cacheDir: string;
  seed?: number;
  device?: Device;
  engine?: Engine;
  progress?: Progress;
}

/** One row of the accuracy table. */
export interface ClsRow {
  method: string;
  label: string;
  /** Top-1 accuracy on the evaluated split, in [0, 1]; absent when the method could not run. */
  accuracy?: number;
  nnz?: number;
  nec?: number;
  lambda?: number;
  /** Concepts in the bottleneck (CBMs). */
  concepts?: number;
  note?: string;
}

/** Accuracy at one NEC target. */
export interface NecPoint {
  target: number;
  /** NEC and non-zero weights of the chosen path point. */
  nec: number;
  nnz: number;
  lambda: number;
  accuracy: number;
}

/** What {@link evaluateClassification} returns (and the CLI writes as JSON). */
export interface ClassificationResult {
  data: string;
  split: string;
  images: { train: number; val: number; eval: number };
  classes: number;
  backbone: string;
  lam: number;
  rows: ClsRow[];
  necCurves: { method: string; label: string; points: NecPoint[] }[];
  lfcbm?: { conceptsGiven: number; conceptsKept: number; cutoff: number; dropped: string[] };
  /** Cache folders: per-image features (shards) and per-method results (one shard per method). */
  cache: { features: string; results: string };
}

interface Split {
  y: Int32Array;
  n: number;
  rows: number[];
}

/** A labelled feature split for a final layer. */
interface XY {
  X: Float32Array;
  y: Int32Array;
}

function gatherRows(X: Float32Array, width: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, k) => out.set(X.subarray(r * width, (r + 1) * width), k * width));
  return out;
}

/** X (n×D) times Wᵀ (W: M×D) in ONNX Runtime, n×M; the session, used once, is released. */
async function project(engine: Engine, X: Float32Array, n: number, W: Float32Array, M: number, D: number): Promise<Float32Array> {
  const b = new GraphBuilder('eval_project');
  const x = b.input('x', 'float32', ['n', D]);
  b.op('MatMul', [x, b.constF32Transposed(W, M, D)], {}, 'y');
  b.output('y', 'float32', ['n', M]);
  const session = await engine.open(b.toBytes(), 'the LF-CBM concept layer');
  try {
    const out = new Float32Array(n * M);
    const chunk = 8192;
    for (let s = 0; s < n; s += chunk) {
      const k = Math.min(chunk, n - s);
      const res = await session.run({ x: f32(X.subarray(s * D, (s + k) * D), [k, D]) });
      out.set(dataF32(res.y!, 'projection'), s * M);
    }
    return out;
  } finally {
    await session.release();
  }
}

/** The labelled images: train, val and the evaluated split, as rows of one list of distinct samples. */
interface EvalData {
  /** The data set's root. */
  root: string;
  /** Number of classes. */
  L: number;
  /** Every distinct sample of the three splits; a split's `rows` index it. */
  all: Sample[];
  train: Split;
  val: Split;
  ev: Split;
}

/** The final-layer settings shared by the methods. */
interface FitSettings {
  /** GLM-SAGA's elastic-net mixing. */
  alpha: number;
  lam: number;
  epochs: number;
  targets: number[];
  pathOpts: { k: number; epsilon: number; epochs: number };
  seed: number;
}

/** What every method step reads. */
interface MethodContext {
  data: EvalData;
  fit: FitSettings;
  engine: Engine;
  progress: Progress;
  salf: SalfCbm;
}

/** One method's rows and curves (and LF-CBM's concept facts), as cached per method. */
interface StepResult {
  rows: ClsRow[];
  curves: ClassificationResult['necCurves'];
  lfcbm?: ClassificationResult['lfcbm'];
}

/** Runs every comparison (see the module comment). */
export async function evaluateClassification(options: ClassificationEvalOptions): Promise<ClassificationResult> {
  const progress = options.progress ?? silentProgress;
  const methods = options.methods ?? CLS_METHODS;
  for (const m of methods) if (!CLS_METHODS.includes(m)) throw new Error(`classification: unknown method '${String(m)}' (${CLS_METHODS.join(', ')})`);
  const engine = options.engine ?? new Engine({ device: options.device });
  const salf = typeof options.model === 'string' ? SalfCbm.load(options.model, engine) : options.model;
  const opened: { clip?: ClipModel } = {};
  try {
    return await evaluateWith(options, methods, engine, salf, opened, progress);
  } finally {
    // What this evaluation opened goes with it: CLIP, and the engine when it made one, else the
    // sessions of the model it loaded.
    await Promise.all([opened.clip?.dispose(), options.engine ? (salf === options.model ? undefined : salf.dispose()) : engine.dispose()]);
  }
}

/** The body of {@link evaluateClassification}; CLIP, once loaded, is left in `opened` to be disposed. */
async function evaluateWith(
  options: ClassificationEvalOptions,
  methods: readonly ClsMethod[],
  engine: Engine,
  salf: SalfCbm,
  opened: { clip?: ClipModel },
  progress: Progress,
): Promise<ClassificationResult> {
  const seed = options.seed ?? 0;
  const splitName = options.split ?? 'test';
  const data = openEvalData(options, salf, splitName, seed);

  const config = { ...salf.config.backbone, ...(options.logitsTensor ? { logitsTensor: options.logitsTensor } : {}) };
  const backbone = await loadNativeBackbone(config, engine, [salf.config.grid[0], salf.config.grid[1]]);
  if (backbone.featureDim !== salf.shape.D)
    throw new Error(`${config.model}: the feature map has ${backbone.featureDim} channels but the SALF-CBM expects D = ${salf.shape.D}`);
  const useLf = methods.includes('lfcbm');
  const clip = (opened.clip = useLf ? await ClipModel.load(options.clip ?? salf.config.clip.source, { device: options.device }) : undefined);
  const lfConcepts = [...(options.lfcbmConcepts ?? salf.concepts)];
  if (useLf && lfConcepts.length === 0) throw new Error('classification: the LF-CBM concept list is empty');

  const feats = await computeFeatures(backbone, salf, clip, data.all, engine, options, progress);
  const fit = fitSettings(options, salf, seed);
  const ctx: MethodContext = { data, fit, engine, progress, salf };

  // Each method's rows and curve are cached once computed, so a rerun resumes after the last one.
  const results = new ShardCache(
    options.cacheDir,
    'classification-results',
    {
      v: 1,
      features: feats.cacheDir,
      split: splitName,
      rows: arraysIdentity([Float32Array.from(data.train.rows), Float32Array.from(data.val.rows), Float32Array.from(data.ev.rows)]),
      lam: fit.lam,
      epochs: fit.epochs,
      targets: fit.targets,
      pathOpts: fit.pathOpts,
      seed,
      salfFinal: arraysIdentity([salf.weights.mean, salf.weights.std, salf.weights.finalWeight, salf.weights.finalBias]),
      lfcbm: useLf ? { opts: options.lfcbm ?? {}, concepts: lfConcepts, clip: clip?.id } : undefined,
    },
    1,
  );
  const steps: StepResult[] = [];
  let reusedSteps = 0;
  const step = async (index: number, run: () => Promise<StepResult>): Promise<void> => {
    const cached = results.readJson<StepResult>(index);
    if (cached) reusedSteps++;
    const result = cached ?? (await run());
    if (!cached) results.writeJson(index, result);
    steps.push(result);
  };
  if (methods.includes('standard')) await step(0, async () => standardStep(data, backbone.numClasses, feats.logits));
  if (methods.includes('standard-sparse')) await step(1, () => standardSparseStep(ctx, feats.gap, backbone.featureDim));
  if (useLf && clip && feats.clip) await step(2, () => lfcbmStep(ctx, clip, lfConcepts, feats.gap, backbone.featureDim, feats.clip!, options.lfcbm ?? {}));
  if (methods.includes('salf')) await step(3, () => salfStep(ctx, feats.salf));
  if (reusedSteps > 0) progress.log(`classification: reused ${reusedSteps} cached method result(s) from ${results.dir}`);

  const lfInfo = steps.find((s) => s.lfcbm)?.lfcbm;
  return {
    data: data.root,
    split: splitName,
    images: { train: data.train.n, val: data.val.n, eval: data.ev.n },
    classes: data.L,
    backbone: config.model,
    lam: fit.lam,
    rows: steps.flatMap((s) => s.rows),
    necCurves: steps.flatMap((s) => s.curves),
    ...(lfInfo ? { lfcbm: lfInfo } : {}),
    cache: { features: feats.cacheDir, results: results.dir },
  };
}

/** Opens the data with the model's classes and its three splits (checked before any long work). */
function openEvalData(options: ClassificationEvalOptions, salf: SalfCbm, splitName: Exclude<SplitName, 'train'>, seed: number): EvalData {
  const folder = openDataset(
    options.data,
    options.splitFile ? { splitFile: options.splitFile } : { holdout: { val: options.valFraction ?? 0.1, test: options.testFraction, seed } },
  );
  if (folder.classes.length !== salf.classes.length || folder.classes.some((c, i) => c !== salf.classes[i])) {
    throw new Error(
      `${options.data}: the classes (${folder.classes.slice(0, 5).join(', ')}${folder.classes.length > 5 ? ', …' : ''}) differ from the model's (${salf.classes.slice(0, 5).join(', ')}${salf.classes.length > 5 ? ', …' : ''})`,
    );
  }
  const trainS = folder.split('train');
  const valS = folder.split('val');
  const evalS = folder.split(splitName);
  if (trainS.length < 2 || valS.length < 1 || evalS.length < 1) {
    throw new Error(`${options.data}: need ≥ 2 training, ≥ 1 validation and ≥ 1 ${splitName} images (got ${trainS.length}, ${valS.length}, ${evalS.length})`);
  }
  const all: Sample[] = [];
  const at = new Map<string, number>();
  const splitOf = (samples: Sample[]): Split => {
    const rows = samples.map((s) => {
      let r = at.get(s.path);
      if (r === undefined) {
        r = all.length;
        at.set(s.path, r);
        all.push(s);
      }
      return r;
    });
    return { rows, n: rows.length, y: Int32Array.from(samples, (s) => s.label) };
  };
  const train = splitOf(trainS);
  const val = splitOf(valS);
  const ev = splitOf(evalS);
  return { root: folder.root, L: folder.classes.length, all, train, val, ev };
}

/** The options' final-layer settings, with the defaults of the module comment. */
function fitSettings(options: ClassificationEvalOptions, salf: SalfCbm, seed: number): FitSettings {
  const alpha = 0.99;
  return {
    alpha,
    lam: options.lam ?? (salf.config.finalLayer.mode === 'sparse' && salf.config.finalLayer.lambda ? salf.config.finalLayer.lambda * alpha : 7e-4),
    epochs: options.epochs ?? 1000,
    targets: [...(options.necTargets ?? [5, 10, 15, 20, 25, 30])],
    pathOpts: { k: options.path?.k ?? 25, epsilon: options.path?.epsilon ?? 1e-3, epochs: options.path?.epochs ?? 200 },
    seed,
  };
}

/** A split's rows of X (n×width), standardised. */
function standardisedSplit(X: Float32Array, width: number, s: Split, std: Standardiser): XY {
  return { X: applyStandardiser(gatherRows(X, width, s.rows), s.n, width, std), y: s.y };
}

/**
 * The sparse (single λ) row and the NEC curve of standardised features; `own` is a final layer
 * to evaluate instead of training one.
 */
async function sparseAndCurve(
  ctx: MethodContext,
  method: string,
  label: string,
  Xall: Float32Array,
  width: number,
  std: Standardiser,
  extra: Partial<ClsRow>,
  own?: { W: Float32Array; b: Float32Array },
): Promise<StepResult> {
  const { data, fit, engine, progress } = ctx;
  const { L } = data;
  const tr = standardisedSplit(Xall, width, data.train, std);
  const va = standardisedSplit(Xall, width, data.val, std);
  const te = standardisedSplit(Xall, width, data.ev, std);
  let W: Float32Array;
  let b: Float32Array;
  let lambda: number | undefined;
  let note: string | undefined;
  if (own) {
    ({ W, b } = own);
    lambda = ctx.salf.config.finalLayer.lambda;
    note = "the model's own final layer";
  } else {
    progress.start(`${label} (λ = ${(fit.lam / fit.alpha).toExponential(2)})`, fit.epochs);
    const fl = await trainFinalLayer({
      Xtrain: tr.X,
      ytrain: tr.y,
      Xval: va.X,
      yval: va.y,
      nClasses: L,
      mode: 'sparse',
      lam: fit.lam,
      epochsPerLambda: fit.epochs,
      seed: fit.seed,
      engine,
      onProgress: (p) => progress.update(p.epoch),
    });
    progress.stop();
    ({ W, b, lambda } = fl);
  }
  const acc = (await evaluateLinear(engine, W, b, te, L, width)).acc;
  const rows: ClsRow[] = [
    { method, label, accuracy: acc, nnz: nonZeros(W), nec: nec(W, L, width), ...(lambda !== undefined ? { lambda } : {}), ...extra, ...(note ? { note } : {}) },
  ];
  if (fit.targets.length === 0) return { rows, curves: [] };
  progress.start(`${label}: λ path`, fit.pathOpts.k);
  const points = await glmSaga({
    X: tr.X,
    y: tr.y,
    nClasses: L,
    alpha: fit.alpha,
    k: fit.pathOpts.k,
    epsilon: fit.pathOpts.epsilon,
    doZero: false,
    epochsPerLambda: fit.pathOpts.epochs,
    val: va,
    seed: fit.seed,
    engine,
    onProgress: (p) => progress.update(p.lambdaIndex + (p.point ? 1 : 0), `NEC ${p.point ? p.point.nec.toFixed(1) : '…'}`),
  });
  progress.stop();
  const curve: NecPoint[] = [];
  for (const t of fit.targets) {
    const p = points[selectPathPoint(points, 'nec', t)]!;
    curve.push({ target: t, nec: p.nec, nnz: p.nnz, lambda: p.lambda, accuracy: (await evaluateLinear(engine, p.W, p.b, te, L, width)).acc });
  }
  return { rows, curves: [{ method, label, points: curve }] };
}

/** (a) The backbone's own classifier (`Lh` classes; `logits` of every sample). */
function standardStep(data: EvalData, Lh: number | undefined, logits: Float32Array | undefined): StepResult {
  const { L, ev } = data;
  const label = 'standard (backbone head)';
  if (Lh === undefined || !logits) return { rows: [{ method: 'standard', label, note: 'the backbone config names no logits tensor' }], curves: [] };
  if (Lh !== L) return { rows: [{ method: 'standard', label, note: `the head has ${Lh} classes, the data set ${L}` }], curves: [] };
  let correct = 0;
  ev.rows.forEach((r, k) => {
    const z = logits.subarray(r * L, (r + 1) * L);
    let best = 0;
    for (let c = 1; c < L; c++) if (z[c]! > z[best]!) best = c;
    if (best === ev.y[k]) correct++;
  });
  return { rows: [{ method: 'standard', label, accuracy: correct / ev.n }], curves: [] };
}

/** (b) Sparse final layer on pooled backbone features (`gap`, n×D). */
async function standardSparseStep(ctx: MethodContext, gap: Float32Array, D: number): Promise<StepResult> {
  const { train } = ctx.data;
  const std = fitStandardiser(gatherRows(gap, D, train.rows), train.n, D);
  return sparseAndCurve(ctx, 'standard-sparse', 'standard, sparse', gap, D, std, {});
}

/** (c) LF-CBM: non-spatial concept layer on pooled features (`gap`, n×D), global CLIP similarities (`clipFeats`, n×E). */
async function lfcbmStep(
  ctx: MethodContext,
  clip: ClipModel,
  concepts: readonly string[],
  gap: Float32Array,
  D: number,
  clipFeats: Float32Array,
  lf: NonNullable<ClassificationEvalOptions['lfcbm']>,
): Promise<StepResult> {
  const { data, fit, engine, progress } = ctx;
  const { train, val } = data;
  const E = clip.embedDim;
  const T = await clip.encodeTexts(concepts);
  const maxSteps = lf.maxSteps ?? 1000;
  progress.start('LF-CBM concept layer', maxSteps);
  const trained = await trainWithCutoff({
    train: { F: gatherRows(gap, D, train.rows), I: gatherRows(clipFeats, E, train.rows), n: train.n },
    val: { F: gatherRows(gap, D, val.rows), I: gatherRows(clipFeats, E, val.rows), n: val.n },
    T,
    M: concepts.length,
    G: 1,
    D,
    E,
    lr: lf.lr,
    maxSteps,
    stepSamples: lf.stepSamples,
    valEvery: lf.valEvery,
    cutoff: lf.cutoff,
    seed: fit.seed,
    engine,
    onProgress: (p) => progress.update(p.step, `loss ${p.trainLoss.toFixed(3)}`),
  });
  progress.stop();
  const Mk = trained.kept.length;
  const acts = await project(engine, gap, data.all.length, trained.Wc, Mk, D);
  const std = fitStandardiser(gatherRows(acts, Mk, train.rows), train.n, Mk);
  const lfcbm = {
    conceptsGiven: concepts.length,
    conceptsKept: Mk,
    cutoff: trained.report.cutoff,
    dropped: trained.report.dropped.map((d) => concepts[d.index]!),
  };
  return { ...(await sparseAndCurve(ctx, 'lfcbm', 'LF-CBM, sparse', acts, Mk, std, { concepts: Mk })), lfcbm };
}

/** (d) SALF-CBM on its pooled concept activations (`acts`, n×M), sparse and dense. */
async function salfStep(ctx: MethodContext, acts: Float32Array): Promise<StepResult> {
  const { data, fit, engine, progress, salf } = ctx;
  const { L } = data;
  const M = salf.shape.M;
  const std: Standardiser = { mean: salf.weights.mean, std: salf.weights.std };
  const own = salf.config.finalLayer.mode === 'sparse' ? { W: salf.weights.finalWeight, b: salf.weights.finalBias } : undefined;
  const sparse = await sparseAndCurve(ctx, 'salf-sparse', 'SALF-CBM, sparse', acts, M, std, { concepts: M }, own);
  const te = standardisedSplit(acts, M, data.ev, std);
  let W: Float32Array;
  let b: Float32Array;
  let note: string | undefined;
  if (salf.config.finalLayer.mode === 'dense') {
    ({ finalWeight: W, finalBias: b } = salf.weights);
    note = "the model's own final layer";
  } else {
    const tr = standardisedSplit(acts, M, data.train, std);
    const va = standardisedSplit(acts, M, data.val, std);
    progress.start('SALF-CBM, dense', fit.epochs);
    ({ W, b } = await trainFinalLayer({
      Xtrain: tr.X,
      ytrain: tr.y,
      Xval: va.X,
      yval: va.y,
      nClasses: L,
      mode: 'dense',
      epochsPerLambda: fit.epochs,
      seed: fit.seed,
      engine,
      onProgress: (p) => progress.update(p.epoch),
    }));
    progress.stop();
  }
  const dense: ClsRow = {
    method: 'salf-dense',
    label: 'SALF-CBM, dense',
    accuracy: (await evaluateLinear(engine, W, b, te, L, M)).acc,
    nnz: nonZeros(W),
    nec: nec(W, L, M),
    concepts: M,
    ...(note ? { note } : {}),
  };
  return { rows: [...sparse.rows, dense], curves: sparse.curves };
}

/** Per-image features of every sample, from cached shards or computed. */
async function computeFeatures(
  backbone: Backbone,
  salf: SalfCbm,
  clip: ClipModel | undefined,
  samples: readonly Sample[],
  engine: Engine,
  options: ClassificationEvalOptions,
  progress: Progress,
): Promise<{ gap: Float32Array; salf: Float32Array; logits?: Float32Array; clip?: Float32Array; cacheDir: string }> {
  const n = samples.length;
  const D = backbone.featureDim;
  const P = backbone.gridSize;
  const M = salf.shape.M;
  const Lh = backbone.numClasses;
  const E = clip?.embedDim;
  const w = salf.weights;
  const fields: FieldSpec[] = [
    { name: 'gap', shape: [D], dtype: 'float32' },
    { name: 'salf', shape: [M], dtype: 'float32' },
    ...(Lh !== undefined ? [{ name: 'logits', shape: [Lh], dtype: 'float32' } as const] : []),
    ...(E !== undefined ? [{ name: 'clip', shape: [E], dtype: 'float32' } as const] : []),
  ];
  const cache = RowStore.open(options.cacheDir, {
    kind: 'classification-features',
    identity: {
      backbone: backbone.config,
      backboneFile: fileIdentity([backbone.config.model]),
      salf: arraysIdentity([w.conceptWeight]),
      grid: salf.config.grid,
      pooling: salf.config.pooling,
      clip: clip?.id,
      images: fileIdentity(samples.map((s) => s.path)),
    },
    numRows: n,
    shardSize: options.shardSize ?? 256,
    fields,
  });
  const gap = new Float32Array(n * D);
  const act = new Float32Array(n * M);
  const logits = Lh !== undefined ? new Float32Array(n * Lh) : undefined;
  const emb = E !== undefined ? new Float32Array(n * E) : undefined;
  const batchSize = options.batchSize ?? 32;
  const S = backbone.inputSize;
  const pre = backbone.config.preprocess;
  const shards = cache.numShards;
  let reused = 0;
  progress.start('features', n);
  for (let s = 0; s < shards; s++) {
    const { first: a, count } = cache.shardRange(s);
    const b = a + count;
    let got: Record<string, Float32Array>;
    if (cache.isComplete(s)) {
      got = Object.fromEntries(fields.map((f) => [f.name, cache.readField(s, f.name)]));
      reused++;
    } else {
      const fresh = { gap: new Float32Array((b - a) * D), salf: new Float32Array((b - a) * M) };
      got = fresh;
      if (Lh !== undefined) got.logits = new Float32Array((b - a) * Lh);
      if (E !== undefined) got.clip = new Float32Array((b - a) * E);
      for await (const batch of iterateBatches(samples.slice(a, b), null, { batchSize })) {
        const i = a + batch.start;
        const k = batch.images.length;
        const decoded = batch.images;
        const px = new Float32Array(k * 3 * S * S);
        decoded.forEach((img, j) => preprocessImage(img, pre, px, j * 3 * S * S));
        const out = await backbone.run(px, k);
        fresh.gap.set(globalAverage(out.features, k, P, D), (i - a) * D);
        const gridF = await resizeFeatureGrid(engine, out.features, k, backbone.nativeGrid, salf.config.grid, D);
        fresh.salf.set((await salf.forwardFeatures(gridF, k)).activations, (i - a) * M);
        if (got.logits && out.logits) got.logits.set(out.logits, (i - a) * Lh!);
        if (clip && got.clip) {
          const C = clip.inputSize;
          const clipPre = clipPreprocess(clip);
          const cpx = new Float32Array(k * 3 * C * C);
          decoded.forEach((img, j) => preprocessImage(img, clipPre, cpx, j * 3 * C * C));
          got.clip.set(await clip.encodeImages(cpx, k), (i - a) * E!);
        }
        progress.update(i + k);
      }
      cache.writeShard(s, got);
    }
    gap.set(got.gap!, a * D);
    act.set(got.salf!, a * M);
    if (logits && got.logits) logits.set(got.logits, a * Lh!);
    if (emb && got.clip) emb.set(got.clip, a * E!);
    progress.update(b);
  }
  progress.stop();
  if (reused > 0) progress.log(`classification: reused ${reused} of ${shards} cached feature shard(s) from ${cache.dir}`);
  return { gap, salf: act, ...(logits ? { logits } : {}), ...(emb ? { clip: emb } : {}), cacheDir: cache.dir };
}

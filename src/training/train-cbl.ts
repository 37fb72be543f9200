/**
 * Training the concept bottleneck layer W_c [M×D] (SPEC step 3) on LF-CBM's schedule, and the
 * interpretability cutoff that follows it.
 *
 * Schedule (LF-CBM `train_cbm.py`): each step draws min(stepSamples, N) random images (all grid
 * positions of an image come with it), takes one Adam step (lr 1e-3), and every `valEvery` steps
 * (and at the last step) evaluates the validation loss after the update. The best weights are
 * kept; training stops at the first validation that does not improve on the best.
 *
 * When the step takes the whole training set (N ≤ stepSamples) the batch never changes, so its
 * centred features and CLIP targets are prepared once (see `PreparedCblData`).
 *
 * A split is either held in memory (`CblDataSet`) or read in chunks from a `CblRowSource`. A batch
 * whose prepared data fits `memoryBudgetBytes` is prepared in memory (a source's rows are loaded
 * first); a larger one is streamed (`StreamedCblBatch`: the loss and gradient accumulated over
 * chunks of images, the same values up to float rounding), so splits larger than memory train.
 */
import { Engine, getDefaultEngine } from '../engine/session.js';
import { Adam, type AdamOptions } from './adam.js';
import { checkpointKey, loadCblCheckpoint, saveCblCheckpoint, type CblHistoryEntry } from './cbl-checkpoint.js';
import { defaultGridChunk, PreparedCblData, type CblDims, type CblEvaluation, type CblReduction } from './cbl-graph.js';
import { arraySource, isRowSource, loadRows, type CblRowSource } from './cbl-source.js';
import { StreamedCblBatch, streamChunkRows } from './cbl-stream.js';
import { defaultMemoryBudget, usableBytes } from './memory-budget.js';
import { Rng } from '../rng.js';
import { TRAINING_DEFAULTS } from './defaults.js';

/** One split: features F [n,G,D] (channels last), normalised prompted CLIP embeddings I [n,G,E]. */
export interface CblDataSet {
  F: Float32Array;
  I: Float32Array;
  n: number;
}

/** A split held in memory or read in chunks from a row source. */
export type CblSplit = CblDataSet | CblRowSource;

/**
 * When a batch is streamed from its split instead of prepared in memory: 'auto' (default) when
 * its prepared data would not fit `memoryBudgetBytes`; 'always'; 'never'.
 */
export type CblStreaming = 'auto' | 'always' | 'never';

/** The default of `memoryBudgetBytes`: the usable part of the default memory budget (memory-budget.ts). */
export function defaultCblMemoryBytes(): number {
  return usableBytes(defaultMemoryBudget());
}

/** Memory options shared by the training and the cutoff. */
export interface CblMemoryOptions {
  /**
   * Bytes one split's batch may take in memory (default {@link defaultCblMemoryBytes}: the usable
   * part of memory-budget.ts's default budget): a batch whose prepared data
   * (`preparedBatchBytes`) fits is prepared in memory, a larger one is streamed, in chunks of
   * images sized to this budget.
   */
  memoryBudgetBytes?: number;
  /** Force streaming ('always') or the in-memory path ('never'); 'auto' by default. */
  streaming?: CblStreaming;
}

/**
 * Estimated bytes of a prepared batch of B images: centred features and targets (4·B·G·(D + M)),
 * the per-grid-chunk intermediates, and, for a row source, the rows loaded as float32.
 */
export function preparedBatchBytes(B: number, dims: CblDims, fromSource: boolean, gridChunk?: number): number {
  const { G, D, E, M } = dims;
  const gc = gridChunk ?? defaultGridChunk(B, G, M);
  return 4 * B * G * (D + M) + 6 * 4 * B * Math.min(gc, G) * M + (fromSource ? 4 * B * G * (D + E) : 0);
}

/** Reported after every step. */
export interface CblProgress {
  step: number;
  maxSteps: number;
  /** Loss of the batch before the update. */
  trainLoss: number;
  /** Validation loss after the update, on validation steps. */
  valLoss?: number;
  bestStep: number;
}

/** Options of `trainConceptLayer`. */
export interface TrainConceptLayerOptions extends CblMemoryOptions {
  train: CblSplit;
  val: CblSplit;
  /** Normalised concept text embeddings [M,E]. */
  T: Float32Array;
  M: number;
  G: number;
  D: number;
  E: number;
  /** Adam learning rate; 1e-3. */
  lr?: number;
  /** Images per step; 50,000 (LF-CBM). */
  stepSamples?: number;
  /** Most steps; 1000. */
  maxSteps?: number;
  /** Validate every this many steps; 50. */
  valEvery?: number;
  /** Seed for the initial weights and the batches; 0. */
  seed?: number;
  /** Initial W_c [M,D]; default nn.Linear's init U(−1/√D, 1/√D) from the seeded generator. */
  init?: Float32Array;
  onProgress?: (p: CblProgress) => void;
  /** Engine that runs the graphs; the process default when omitted. */
  engine?: Engine;
  /** Epsilon added to the norms; see cbl-graph. */
  eps?: number;
  /** 'sum' (SPEC, default) or 'mean' (LF-CBM's −mean). Losses in the history use it too. */
  reduction?: CblReduction;
  /** Other Adam settings (betas, eps, weight decay). */
  adam?: Omit<AdamOptions, 'lr'>;
  /** Grid positions per graph run; see `PrepareOptions.gridChunk`. */
  gridChunk?: number;
  /**
   * A checkpoint file, written at every validation point: a run interrupted after one resumes
   * there (and a finished run returns its result without training), ending exactly as an
   * uninterrupted run. A checkpoint of other data or options is ignored and replaced.
   */
  checkpoint?: string;
}

/** Result of `trainConceptLayer`. */
export interface TrainConceptLayerResult {
  /** The best weights found, [M,D]. */
  Wc: Float32Array;
  /** One entry per validation. */
  history: CblHistoryEntry[];
  /** Step whose weights are returned. */
  bestStep: number;
  /** Validation loss of those weights. */
  bestValLoss: number;
  /** Steps taken. */
  steps: number;
}

/** PyTorch's nn.Linear default init for W [M,D]: kaiming-uniform(a=√5) = U(−1/√D, 1/√D). */
export function initConceptLayer(M: number, D: number, rng: Rng): Float32Array {
  const bound = 1 / Math.sqrt(D);
  return rng.uniformArray(M * D, -bound, bound);
}

function checkSplit(name: string, s: CblSplit, G: number, D: number, E: number): void {
  if (!Number.isInteger(s.n) || s.n < 2) throw new Error(`trainConceptLayer: ${name}.n must be an integer ≥ 2 (similarities are over images), got ${s.n}`);
  if (isRowSource(s)) return; // chunks are checked as they are read
  if (s.F.length !== s.n * G * D) throw new Error(`trainConceptLayer: ${name}.F has ${s.F.length} values, expected n×G×D = ${s.n * G * D}`);
  if (s.I.length !== s.n * G * E) throw new Error(`trainConceptLayer: ${name}.I has ${s.I.length} values, expected n×G×E = ${s.n * G * E}`);
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`trainConceptLayer: ${name} must be a positive integer, got ${v}`);
  return v;
}

/** The loss, gradient and evaluation of one batch, prepared in memory or streamed. */
interface BatchData {
  lossAndGrad(W: Float32Array): Promise<{ loss: number; grad: Float32Array }>;
  evaluate(W: Float32Array): Promise<CblEvaluation>;
}

interface BatchConfig {
  engine: Engine;
  T: Float32Array;
  dims: CblDims;
  eps?: number;
  reduction?: CblReduction;
  gridChunk?: number;
  budget: number;
  streaming: CblStreaming;
}

function memoryConfig(o: CblMemoryOptions): { budget: number; streaming: CblStreaming } {
  const budget = o.memoryBudgetBytes ?? defaultCblMemoryBytes();
  if (!(budget > 0) || !Number.isFinite(budget)) throw new Error(`memoryBudgetBytes must be a positive number, got ${budget}`);
  const streaming = o.streaming ?? 'auto';
  if (!['auto', 'always', 'never'].includes(streaming)) throw new Error(`streaming must be 'auto', 'always' or 'never', got ${String(streaming)}`);
  return { budget, streaming };
}

/**
 * The batch of `rows` (drawn order; all images when omitted) of a split. An in-memory split on
 * the in-memory path is prepared exactly as before sources existed; otherwise rows are read
 * ascending (the loss does not depend on the order of a batch's images).
 */
async function openBatch(split: CblSplit, rows: Int32Array | undefined, c: BatchConfig): Promise<BatchData> {
  const B = rows ? rows.length : split.n;
  const source = isRowSource(split);
  const prep = { eps: c.eps, reduction: c.reduction, gridChunk: c.gridChunk };
  const inMemory = c.streaming === 'never' || (c.streaming === 'auto' && preparedBatchBytes(B, c.dims, source, c.gridChunk) <= c.budget);
  if (inMemory && !source) return PreparedCblData.create(c.engine, split, c.T, c.dims, { ...prep, rows });
  const sorted = rows ? Array.from(rows).sort((a, b) => a - b) : 'all';
  const chunkRows = streamChunkRows(c.dims, B, c.budget);
  const src = source ? split : arraySource(split);
  if (inMemory) return PreparedCblData.create(c.engine, await loadRows(src, sorted, c.dims, chunkRows), c.T, c.dims, prep);
  return StreamedCblBatch.create(c.engine, src, sorted, c.T, c.dims, { eps: c.eps, reduction: c.reduction, chunkRows });
}

/** Trains W_c with the cubic cosine similarity loss, Adam and LF-CBM's early stopping. */
export async function trainConceptLayer(options: TrainConceptLayerOptions): Promise<TrainConceptLayerResult> {
  const { train, val, T, M, G, D, E } = options;
  for (const [k, v] of Object.entries({ M, G, D, E })) positiveInt(k, v);
  checkSplit('train', train, G, D, E);
  checkSplit('val', val, G, D, E);
  if (T.length !== M * E) throw new Error(`trainConceptLayer: T has ${T.length} values, expected M×E = ${M * E}`);
  const maxSteps = positiveInt('maxSteps', options.maxSteps ?? TRAINING_DEFAULTS.maxSteps);
  const valEvery = positiveInt('valEvery', options.valEvery ?? TRAINING_DEFAULTS.valEvery);
  const stepSamples = positiveInt('stepSamples', options.stepSamples ?? TRAINING_DEFAULTS.stepSamples);
  const engine = options.engine ?? getDefaultEngine();
  const rng = new Rng(options.seed ?? 0);
  const dims: CblDims = { G, D, E, M };
  const cfg: BatchConfig = { engine, T, dims, eps: options.eps, reduction: options.reduction, gridChunk: options.gridChunk, ...memoryConfig(options) };

  let W: Float32Array;
  if (options.init) {
    if (options.init.length !== M * D) throw new Error(`trainConceptLayer: init has ${options.init.length} values, expected M×D = ${M * D}`);
    W = Float32Array.from(options.init);
  } else {
    W = initConceptLayer(M, D, rng);
  }

  const B = Math.min(stepSamples, train.n);
  if (B < 2) throw new Error('trainConceptLayer: stepSamples must be ≥ 2');
  const fullBatch = B === train.n ? await openBatch(train, undefined, cfg) : undefined;
  const valData = await openBatch(val, undefined, cfg);
  const opt = new Adam(M * D, { ...options.adam, lr: options.lr ?? TRAINING_DEFAULTS.lr });

  let history: CblHistoryEntry[] = [];
  let best: Float32Array = Float32Array.from(W);
  let bestStep = -1;
  let bestValLoss = Infinity;
  let steps = 0;
  let first = 0;
  const ckpt = options.checkpoint;
  // A row source is keyed by its identity; in-memory splits by their arrays, as before sources.
  const splitKey = (s: CblSplit): { id?: string; arrays: Float32Array[] } => (isRowSource(s) ? { id: s.identity(), arrays: [] } : { arrays: [s.F, s.I] });
  const trainKey = ckpt === undefined ? undefined : splitKey(train);
  const valKey = ckpt === undefined ? undefined : splitKey(val);
  const key =
    ckpt === undefined
      ? ''
      : checkpointKey(
          {
            M,
            G,
            D,
            E,
            maxSteps,
            valEvery,
            stepSamples,
            seed: options.seed ?? 0,
            lr: opt.lr,
            adam: options.adam ?? {},
            eps: options.eps,
            reduction: options.reduction ?? 'sum',
            trainSource: trainKey!.id,
            valSource: valKey!.id, // undefined (left out of the JSON) for in-memory splits
          },
          [...trainKey!.arrays, ...valKey!.arrays, T, ...(options.init ? [options.init] : [])],
        );
  const saved = ckpt === undefined ? undefined : loadCblCheckpoint(ckpt, key, M * D);
  if (saved) {
    ({ W, best, bestStep, bestValLoss, history } = saved);
    opt.restore(saved.adam);
    rng.setState(saved.rng);
    steps = saved.step + 1;
    if (saved.done) return { Wc: best, history, bestStep, bestValLoss, steps };
    first = steps;
  }
  const checkpoint = (step: number, done: boolean): void => {
    if (ckpt === undefined) return;
    saveCblCheckpoint(ckpt, key, {
      step,
      done,
      W,
      best,
      bestStep,
      bestValLoss,
      history,
      adam: { step: opt.step, m: opt.m, v: opt.v },
      rng: rng.getState(),
    });
  };
  for (let step = first; step < maxSteps; step++) {
    const batch = fullBatch ?? (await openBatch(train, rng.sample(train.n, B), cfg));
    const { loss: trainLoss, grad } = await batch.lossAndGrad(W);
    if (!Number.isFinite(trainLoss)) throw new Error(`trainConceptLayer: training loss is ${trainLoss} at step ${step}`);
    opt.update(W, grad);
    steps = step + 1;
    if (step % valEvery === 0 || step === maxSteps - 1) {
      const ev = await valData.evaluate(W);
      history.push({ step, trainLoss, valLoss: ev.loss, valSim: ev.meanSim });
      const improved = bestStep < 0 || ev.loss < bestValLoss;
      if (improved) {
        bestValLoss = ev.loss;
        bestStep = step;
        best = Float32Array.from(W);
      }
      // LF-CBM: stop as soon as the validation loss stops falling.
      checkpoint(step, !improved || step === maxSteps - 1);
      options.onProgress?.({ step, maxSteps, trainLoss, valLoss: ev.loss, bestStep });
      if (!improved) break;
    } else {
      options.onProgress?.({ step, maxSteps, trainLoss, bestStep });
    }
  }
  return { Wc: best, history, bestStep, bestValLoss, steps };
}

/** Options of `interpretabilityCutoff`. */
export interface CutoffOptions extends CblMemoryOptions {
  /** Trained W_c [M,D]. */
  Wc: Float32Array;
  /** Validation split. */
  val: CblSplit;
  T: Float32Array;
  M: number;
  G: number;
  D: number;
  E: number;
  /** Concepts with similarity ≤ cutoff are dropped (LF-CBM keeps `sim > cutoff`); 0.45. */
  cutoff?: number;
  engine?: Engine;
  eps?: number;
  gridChunk?: number;
}

/** Which concepts pass the interpretability cutoff. */
export interface CutoffReport {
  cutoff: number;
  /** Per concept: the mean over grid positions of the validation sim3 of its (m, g) columns. */
  similarity: Float32Array;
  /** Indices of the kept concepts, ascending. */
  kept: number[];
  /** Dropped concepts with their similarity, ascending by index. */
  dropped: { index: number; similarity: number }[];
}

/**
 * Per-concept validation similarity and the interpretability cutoff. The spatial model has one
 * sim3 per (concept, grid position) column; a concept's similarity is their mean over the grid,
 * so a concept is kept when, on average over positions, its map follows CLIP's local similarity
 * on the validation set (the non-spatial LF-CBM has exactly one column per concept).
 */
export async function interpretabilityCutoff(options: CutoffOptions): Promise<CutoffReport> {
  const { Wc, val, T, M, G, D, E } = options;
  const cutoff = options.cutoff ?? TRAINING_DEFAULTS.cutoff;
  checkSplit('val', val, G, D, E);
  if (Wc.length !== M * D) throw new Error(`interpretabilityCutoff: Wc has ${Wc.length} values, expected M×D = ${M * D}`);
  const engine = options.engine ?? getDefaultEngine();
  const data = await openBatch(val, undefined, { engine, T, dims: { G, D, E, M }, eps: options.eps, gridChunk: options.gridChunk, ...memoryConfig(options) });
  const similarity = (await data.evaluate(Wc)).conceptSim;
  const kept: number[] = [];
  const dropped: { index: number; similarity: number }[] = [];
  similarity.forEach((s, m) => {
    if (s > cutoff) kept.push(m);
    else dropped.push({ index: m, similarity: s });
  });
  return { cutoff, similarity, kept, dropped };
}

/** Rows `rows` of X [·, R]. */
export function selectRows(X: Float32Array, R: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * R);
  rows.forEach((r, k) => out.set(X.subarray(r * R, (r + 1) * R), k * R));
  return out;
}

/** Options of `trainWithCutoff`. */
export interface TrainWithCutoffOptions extends TrainConceptLayerOptions {
  /** Interpretability cutoff; 0.45. */
  cutoff?: number;
  /**
   * Where the retraining starts: 'scratch' (default; a fresh init from the seed) or 'kept' (the
   * kept rows of the first run's W_c, which LF-CBM keeps without retraining).
   */
  retrainFrom?: 'scratch' | 'kept';
}

/** Result of `trainWithCutoff`. */
export interface TrainWithCutoffResult {
  /** Final W_c for the kept concepts, [kept.length, D]. */
  Wc: Float32Array;
  /** Indices (into the original concept list) of the kept concepts. */
  kept: number[];
  /** The cutoff report of the first training. */
  report: CutoffReport;
  /** The first training, on all concepts. */
  first: TrainConceptLayerResult;
  /** The retraining on the kept concepts (the first training when nothing was dropped). */
  final: TrainConceptLayerResult;
}

/**
 * Train on all concepts → interpretability cutoff → retrain on the kept concepts. With
 * `checkpoint`, the retraining checkpoints to a sibling file ending in `-kept.safetensors`.
 */
export async function trainWithCutoff(options: TrainWithCutoffOptions): Promise<TrainWithCutoffResult> {
  const { D, E } = options;
  const first = await trainConceptLayer(options);
  const report = await interpretabilityCutoff({ ...options, Wc: first.Wc });
  const { kept } = report;
  if (kept.length === 0) {
    throw new Error(
      `trainWithCutoff: no concept has a validation similarity above the cutoff ${report.cutoff} (best ${Math.max(...report.similarity).toFixed(3)})`,
    );
  }
  if (kept.length === options.M) return { Wc: first.Wc, kept, report, first, final: first };
  const init = options.retrainFrom === 'kept' ? selectRows(first.Wc, D, kept) : undefined;
  const checkpoint = options.checkpoint?.replace(/(\.safetensors)?$/, '-kept.safetensors');
  const final = await trainConceptLayer({ ...options, T: selectRows(options.T, E, kept), M: kept.length, init, checkpoint });
  return { Wc: final.Wc, kept, report, first, final };
}

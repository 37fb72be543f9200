/**
 * The whole SALF-CBM training (SPEC steps 2–4) for an image-folder dataset:
 * backbone features → prompted CLIP embeddings → concept layer with the interpretability
 * cutoff → pooled, standardised activations → sparse (or dense) final layer → a saved model.
 *
 * Everything that can fail on bad input (dataset layout, backbone tensors, CLIP folder, concept
 * list) is checked before the long work starts. Features and embeddings are cached under
 * `cacheDir` and the concept layer's training checkpoints there at every validation point, so
 * an interrupted run restarts where it stopped.
 */
import { join, resolve } from 'node:path';
import type { Sample } from '../data/image-folder.js';
import { Engine, type Device } from '../engine/session.js';
import type { BackboneConfig } from '../models/backbone.js';
import { ClipModel, type ClipPrecision } from '../models/clip.js';
import { SalfCbm, type SalfCbmConfig } from '../models/salf-cbm.js';
import type { Pooling } from '../models/salf-head.js';
import { conceptReportFromCutoff, type ConceptReport } from '../concepts/report.js';
import { silentProgress, type Progress } from '../progress.js';
import { defaultRadius, type Placement } from '../similarity/prompting.js';
import type { StoreDtype } from '../store/row-store.js';
import { trainFinalLayer, type FinalLayer } from './final-layer.js';
import { ACTIVATIONS_FIELD, poolActivationsToStore } from './activations.js';
import { availableBytes, parseMemoryBudget } from './memory-budget.js';
import { classesWithout, clipLoadOptions, keptRows, skippedImages, trainingStores, type KeptSplit, type SplitStores } from './precompute.js';
import { storeMatrix } from './row-matrix.js';
import { fitStandardiserStreamed, standardisedMatrix } from './standardise.js';
import { storeSource } from './store-source.js';
import { trainWithCutoff } from './train-cbl.js';
import { TRAINING_DEFAULTS } from './defaults.js';

/** Options of {@link trainSalfCbm}; defaults follow SPEC and LF-CBM. */
export interface TrainSalfCbmOptions {
  /** The data: `<kind>:<path>` or a path whose layout is detected (src/data/datasets.ts). */
  data: string;
  /** Split file (see data/image-folder.ts); otherwise a stratified hold-out of `valFraction`. */
  splitFile?: string;
  valFraction?: number;
  backbone: BackboneConfig;
  /** CLIP: a local folder in the Hugging Face layout, or a hub model id (online only). */
  clip: string;
  /** The concept strings (step 1's output). */
  concepts: string[];
  /** Output model directory. */
  out: string;
  /** Feature and embedding cache; `<out>/cache` by default. */
  cacheDir?: string;
  /** Prompting grid; 7×7. */
  grid?: [number, number];
  /** Circle radius at CLIP's input size; 32 px at 224 (scaled with the size). */
  radius?: number;
  placement?: Placement;
  pooling?: Pooling;
  cbl?: { lr?: number; maxSteps?: number; stepSamples?: number; valEvery?: number; cutoff?: number };
  finalLayer?: {
    mode?: 'sparse' | 'dense';
    /** LF-CBM's sparsity parameter (λ = lam/0.99); 7e-4. */
    lam?: number;
    /** Run a regularisation path of k points and pick the one with NEC closest to (not above) this. */
    targetNec?: number;
    pathLength?: number;
    epochsPerLambda?: number;
  };
  device?: Device;
  /** CLIP's weights: fp32 (default) or fp16 (the folder's onnx/*_model_fp16.onnx). */
  clipPrecision?: ClipPrecision;
  /** Prompted images per CLIP run; 64 (lower it when a GPU runs out of memory). */
  clipBatch?: number;
  seed?: number;
  /** Skip images that cannot be decoded (reported) instead of failing. */
  skipBad?: boolean;
  batchSize?: number;
  /** How backbone features are stored: float16 (default) or float32. */
  featureDtype?: StoreDtype;
  /** Images per store shard; 64. */
  shardSize?: number;
  /**
   * Compute the stores' missing shards here even when a distributed job (`salf-cbm precompute`)
   * fills them; without it, training refuses and lists the commands that redo them.
   */
  computeMissing?: boolean;
  /**
   * Peak memory to stay under, bytes or a size such as '8GiB' (src/training/memory-budget.ts):
   * every stage reads the stores in chunks sized by it; 4 GiB or half the RAM by default.
   */
  memoryBudget?: number | string;
  progress?: Progress;
}

/** What training returns besides the saved directory. */
export interface TrainSalfCbmResult {
  model: SalfCbm;
  metrics: TrainingMetrics;
}

export interface TrainingMetrics {
  numTrain: number;
  numVal: number;
  skipped: { path: string; reason: string }[];
  /** `report`: the interpretability cutoff in the concept-report format of `concepts filter` (src/concepts/report.ts). */
  concepts: { given: number; kept: number; dropped: { concept: string; similarity: number }[]; report: ConceptReport };
  conceptLayer: { bestStep: number; bestValLoss: number; steps: number; history: unknown[] };
  finalLayer: { mode: string; lambda: number; nnz: number; nec: number; trainAccuracy: number; valAccuracy?: number };
}

/**
 * Trains a SALF-CBM (SPEC steps 2–4) and saves it to `options.out`; reruns resume from the cache.
 * The sessions training opened (CLIP's, the engine's) are released when it ends; the returned
 * model opens its own again when it is run.
 *
 * @example
 * ```ts
 * const { metrics } = await trainSalfCbm({
 *   data: 'cub:/data/CUB_200_2011', backbone, clip: 'clip-vit-b16/', concepts: readConceptList('concepts.txt'), out: 'model/',
 * });
 * console.log(metrics.finalLayer.valAccuracy);
 * ```
 */
export async function trainSalfCbm(options: TrainSalfCbmOptions): Promise<TrainSalfCbmResult> {
  if (options.concepts.length === 0) throw new Error('the concept list is empty');
  const engine = new Engine({ device: options.device });
  const clip = await ClipModel.load(options.clip, clipLoadOptions(options));
  try {
    return await train(options, engine, clip);
  } finally {
    await Promise.all([clip.dispose(), engine.dispose()]);
  }
}

async function train(options: TrainSalfCbmOptions, engine: Engine, clip: ClipModel): Promise<TrainSalfCbmResult> {
  const progress = options.progress ?? silentProgress;
  const grid = options.grid ?? TRAINING_DEFAULTS.grid;
  const seed = options.seed ?? TRAINING_DEFAULTS.seed;
  const cacheDir = resolve(options.cacheDir ?? join(options.out, 'cache'));

  // Checks before any long work; then the backbone features and (step 2) the prompted CLIP
  // embeddings, in their stores (precompute.ts), read back for the images kept in both.
  const T = await clip.encodeTexts(options.concepts);
  const E = clip.embedDim;
  const M0 = options.concepts.length;
  const stores = await trainingStores({ ...options, cacheDir, grid, seed, progress }, { engine, clip });
  const folder = stores.folder;
  const budget = parseMemoryBudget(options.memoryBudget);
  const trainKept = keptRows(stores, stores.train);
  const valKept = keptRows(stores, stores.val);
  const skipped = skippedImages(stores);
  const emptied = classesWithout(folder.classes, trainKept.samples);
  if (emptied.length > 0) {
    throw new Error(
      `${folder.root}: every training image of class(es) ${emptied.map((c) => `"${c}"`).join(', ')} failed to decode and was skipped ` +
        `(${skipped.length} skipped in all, e.g. ${skipped
          .slice(0, 3)
          .map((s) => s.path)
          .join(', ')}); fix or remove those files, or remove the class folder`,
    );
  }
  const G = grid[0] * grid[1];
  const D = stores.backbone!.featureDim;
  const nTrain = trainKept.samples.length;
  const nVal = valKept.samples.length;
  // The splits stay on disk; each stage reads them in chunks sized by the memory budget.
  const source = (split: SplitStores, kept: KeptSplit) =>
    storeSource({ store: split.features!.store, field: 'F', rows: kept.featureRows }, { store: stores.prompted!.rows, field: 'I', rows: kept.promptedRows });

  // Step 3: concept layer, interpretability cutoff, retraining.
  const cbl = options.cbl ?? {};
  const maxSteps = cbl.maxSteps ?? TRAINING_DEFAULTS.maxSteps;
  progress.start('concept layer', maxSteps);
  const trained = await trainWithCutoff({
    train: source(stores.train, trainKept),
    val: source(stores.val, valKept),
    T,
    M: M0,
    G,
    D,
    E,
    lr: cbl.lr,
    maxSteps,
    stepSamples: cbl.stepSamples,
    valEvery: cbl.valEvery,
    cutoff: cbl.cutoff,
    seed,
    engine,
    // What the process holds already (CLIP, the sessions of the pre-computation) is not the
    // concept layer's to use.
    memoryBudgetBytes: availableBytes(budget),
    checkpoint: join(cacheDir, 'concept-layer.safetensors'),
    onProgress: (p) => progress.update(p.step, `loss ${p.trainLoss.toFixed(3)}${p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(3)}` : ''}`),
  });
  progress.stop();
  const concepts = trained.kept.map((m) => options.concepts[m]!);
  const dropped = trained.report.dropped.map((d) => ({ concept: options.concepts[d.index]!, similarity: d.similarity }));
  for (const d of dropped) progress.log(`interpretability cutoff: dropped "${d.concept}" (validation similarity ${d.similarity.toFixed(3)})`);
  const M = concepts.length;

  // Step 4: pooled activations (into stores), standardisation, final layer, all in blocks.
  const pooling = options.pooling ?? TRAINING_DEFAULTS.pooling;
  const L = folder.classes.length;
  const activations = async (split: SplitStores, kept: KeptSplit, label: string) => {
    progress.start(`activations (${label})`, kept.featureRows.length);
    const store = await poolActivationsToStore({
      features: split.features!.store,
      rows: kept.featureRows,
      conceptWeight: trained.Wc,
      M,
      pooling,
      outRoot: cacheDir,
      memoryBudget: budget,
      engine,
      onProgress: (p) => progress.update(p.done),
    });
    progress.stop();
    return storeMatrix(store, ACTIVATIONS_FIELD);
  };
  const actTrain = await activations(stores.train, trainKept, 'train');
  const actVal = await activations(stores.val, valKept, 'val');
  const standardiser = fitStandardiserStreamed(actTrain);
  const labels = (s: Sample[]) => Int32Array.from(s.map((x) => x.label));
  const fl = options.finalLayer ?? {};
  const epochs = fl.epochsPerLambda ?? TRAINING_DEFAULTS.epochsPerLambda;
  const nLambdas = fl.targetNec !== undefined ? (fl.pathLength ?? 20) : 1;
  progress.start(`final layer (${fl.mode ?? TRAINING_DEFAULTS.finalMode})`, nLambdas * epochs);
  const final: FinalLayer = await trainFinalLayer({
    Xtrain: standardisedMatrix(actTrain, standardiser),
    ytrain: labels(trainKept.samples),
    Xval: standardisedMatrix(actVal, standardiser),
    yval: labels(valKept.samples),
    nClasses: L,
    mode: fl.mode ?? TRAINING_DEFAULTS.finalMode,
    lam: fl.lam,
    targetNec: fl.targetNec,
    path: fl.targetNec !== undefined ? { k: fl.pathLength ?? 20 } : undefined,
    epochsPerLambda: epochs,
    seed,
    engine,
    memoryBudget: budget,
    scratchDir: cacheDir,
    onProgress: (p) => progress.update(p.lambdaIndex * epochs + p.epoch, `λ ${p.lambda.toExponential(2)}`),
  });
  progress.stop();

  const config = modelConfig(options, grid, pooling, D, clip, { mode: final.mode, lambda: final.lambda, nec: final.metrics.nec, nonZeros: final.metrics.nnz });
  const model = new SalfCbm(
    config,
    concepts,
    folder.classes,
    {
      conceptWeight: trained.Wc,
      mean: standardiser.mean,
      std: standardiser.std,
      finalWeight: final.W,
      finalBias: final.b,
    },
    engine,
  );
  const metrics: TrainingMetrics = {
    numTrain: nTrain,
    numVal: nVal,
    skipped,
    concepts: { given: M0, kept: M, dropped, report: conceptReportFromCutoff(trained.report, options.concepts) },
    conceptLayer: { bestStep: trained.final.bestStep, bestValLoss: trained.final.bestValLoss, steps: trained.final.steps, history: trained.final.history },
    finalLayer: {
      mode: final.mode,
      lambda: final.lambda,
      nnz: final.metrics.nnz,
      nec: final.metrics.nec,
      trainAccuracy: final.metrics.trainAcc,
      valAccuracy: final.metrics.valAcc,
    },
  };
  model.save(options.out, metrics);
  if (skipped.length > 0) progress.log(`${skipped.length} image(s) could not be decoded and were skipped (listed in metrics.json)`);
  return { model, metrics };
}

/** The saved model's configuration, given the final layer's summary. */
function modelConfig(
  options: TrainSalfCbmOptions,
  grid: [number, number],
  pooling: Pooling,
  D: number,
  clip: ClipModel,
  finalLayer: SalfCbmConfig['finalLayer'],
): SalfCbmConfig {
  return {
    format: 'salf-cbm',
    version: 1,
    backbone: { ...options.backbone, model: resolve(options.backbone.model) },
    clip: { source: options.clip, id: clip.id },
    grid,
    prompting: { radius: options.radius ?? defaultRadius(clip.inputSize), placement: options.placement ?? TRAINING_DEFAULTS.placement },
    pooling,
    finalLayer,
    featureDim: D,
  };
}

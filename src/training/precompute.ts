/**
 * The pre-computation of a training run (SPEC steps 2's inputs): the data folder scanned and
 * split, the backbone's features of each split (one feature store per split, rows = the split's
 * samples) and the prompted CLIP embeddings (one store over train then val samples), for one
 * worker of a distributed job or for the whole run.
 *
 * Stages: `features` (needs only the backbone) and `embeddings` (needs only CLIP). A worker
 * (`salf-cbm precompute --shard i/N`) joins the stage's job record (src/store/job-record.ts) and
 * computes its block of every store's shards; `train` reads the stores, computing what is missing
 * itself unless a job record says a distributed job fills them (then it refuses with the status,
 * unless asked to compute the missing shards). Training uses the rows kept in both stores.
 */
import { openDataset, type Dataset } from '../data/datasets.js';
import type { ImageFolder, Sample } from '../data/image-folder.js';
import { loadRgb } from '../data/image-io.js';
import type { ResizeSpec } from '../data/rgb-image.js';
import { Engine, type Device } from '../engine/session.js';
import { Backbone, type BackboneConfig } from '../models/backbone.js';
import { ClipModel, type ClipLoadOptions, type ClipPrecision } from '../models/clip.js';
import { computeFeatureStore, FeatureStore } from '../models/feature-store.js';
import { silentProgress, type Progress } from '../progress.js';
import { computePromptedEmbeddings, promptedStoreOptions, type ComputeOptions } from '../similarity/compute.js';
import { EmbeddingStore } from '../similarity/embedding-store.js';
import { defaultRadius, type Placement } from '../similarity/prompting.js';
import { checkStores, joinJob, jobRecordPath, jobStore, readJobRecord, type JobStore } from '../store/job-record.js';
import { statusReport, type StatusReport } from '../store/job-status.js';
import type { BeforeShardCommit, RowStore, StoreDtype } from '../store/row-store.js';
import type { WorkerShard } from '../store/worker-shard.js';
import { TRAINING_DEFAULTS } from './defaults.js';

/** A pre-computation stage. */
export type PrecomputeStage = 'features' | 'embeddings';
export const PRECOMPUTE_STAGES: readonly PrecomputeStage[] = ['features', 'embeddings'];

/** What determines the stores: the data, the models and the options (shared by train, precompute and status). */
export interface PrecomputeInputs {
  /** The data: `<kind>:<path>` or a path whose layout is detected (src/data/datasets.ts). */
  data: string;
  splitFile?: string;
  valFraction?: number;
  /** Seed of the hold-out split. */
  seed?: number;
  backbone: BackboneConfig;
  /** CLIP: a local folder in the Hugging Face layout, or a hub model id. */
  clip: string;
  /** The cache folder holding the stores and job records. */
  cacheDir: string;
  grid?: [number, number];
  radius?: number;
  placement?: Placement;
  device?: Device;
  /** CLIP's weights, fp32 (default) or fp16; part of the embedding store's key through CLIP's id. */
  clipPrecision?: ClipPrecision;
  /** Prompted images per CLIP run; 64. */
  clipBatch?: number;
  skipBad?: boolean;
  /** Images per backbone run. */
  batchSize?: number;
  /** How features are stored: float16 (default) or float32. */
  featureDtype?: StoreDtype;
  /** Images per store shard; 64. */
  shardSize?: number;
  progress?: Progress;
  /** Test hook, see {@link BeforeShardCommit}. */
  beforeShardCommit?: BeforeShardCommit;
}

/** A split's samples and where their rows are. */
export interface SplitStores {
  /** Every sample of the split; row r of the split's feature store. */
  samples: Sample[];
  /** The split's feature store (when the features stage was opened). */
  features?: FeatureStore<Sample>;
  /** Row of the prompted store holding split row 0 (split row r is promptedFirst + r). */
  promptedFirst: number;
}

/** The opened stores of a run (those of the stages asked for). */
export interface PrecomputeStores {
  folder: ImageFolder;
  cacheDir: string;
  backbone?: Backbone;
  clip?: ClipModel;
  engine: Engine;
  train: SplitStores;
  val: SplitStores;
  /** Prompted embeddings of the train then the val samples. */
  prompted?: EmbeddingStore;
  /** The stores of each stage, named, as the job records list them. */
  stages: Map<PrecomputeStage, { name: string; store: RowStore }[]>;
}

/** The split rows kept in both stores (decoded by the backbone and by CLIP's loader). */
export interface KeptSplit {
  samples: Sample[];
  featureRows: number[];
  promptedRows: number[];
}

/**
 * Opens the data (any layout of src/data/datasets.ts) and splits it: at least 2 classes, every
 * class with a training image, and at least 2 training and 2 validation images; checked here,
 * before any features are computed.
 */
export function scanSplits(inputs: Pick<PrecomputeInputs, 'data' | 'splitFile' | 'valFraction' | 'seed'>): { folder: Dataset; train: Sample[]; val: Sample[] } {
  const folder = openDataset(
    inputs.data,
    inputs.splitFile
      ? { splitFile: inputs.splitFile }
      : { holdout: { val: inputs.valFraction ?? TRAINING_DEFAULTS.valFraction, seed: inputs.seed ?? TRAINING_DEFAULTS.seed } },
  );
  if (folder.classes.length < 2) {
    throw new Error(
      `${folder.root}: only one class${folder.kind === 'folder' ? ' folder' : ''} ("${folder.classes[0]}"); a classifier needs at least 2 (root/<class>/<images>)`,
    );
  }
  const train = folder.split('train');
  const val = folder.split('val');
  if (train.length < 2 || val.length < 2) {
    throw new Error(`${inputs.data}: need at least 2 training and 2 validation images (got ${train.length} and ${val.length})`);
  }
  const untrained = classesWithout(folder.classes, train);
  if (untrained.length > 0) {
    const where = inputs.splitFile ?? folder.root;
    throw new Error(`${where}: class(es) ${untrained.map((c) => `"${c}"`).join(', ')} have no training images; give each class at least one`);
  }
  return { folder, train, val };
}

/** The classes of `classes` that no sample of `samples` has. */
export function classesWithout(classes: readonly string[], samples: readonly Sample[]): string[] {
  const seen = new Set(samples.map((s) => s.label));
  return classes.filter((_, label) => !seen.has(label));
}

/**
 * Loads the models the stages need and opens (creating if needed) their stores; computes
 * nothing. `engine` and `clip` are reused when given.
 */
export async function openStores(
  inputs: PrecomputeInputs,
  stages: readonly PrecomputeStage[],
  given: { engine?: Engine; clip?: ClipModel } = {},
): Promise<PrecomputeStores> {
  const { folder, train, val } = scanSplits(inputs);
  for (const w of folder.warnings) inputs.progress?.log(`warning: ${w}`);
  const grid = inputs.grid ?? TRAINING_DEFAULTS.grid;
  const engine = given.engine ?? new Engine({ device: inputs.device });
  const named = new Map<PrecomputeStage, { name: string; store: RowStore }[]>();
  const layout = { dtype: inputs.featureDtype, shardSize: inputs.shardSize };
  let backbone: Backbone | undefined;
  let features: { train: FeatureStore<Sample>; val: FeatureStore<Sample> } | undefined;
  if (stages.includes('features')) {
    backbone = await Backbone.load(inputs.backbone, grid, engine);
    features = { train: FeatureStore.open(backbone, train, inputs.cacheDir, layout), val: FeatureStore.open(backbone, val, inputs.cacheDir, layout) };
    named.set('features', [
      { name: 'features (train)', store: features.train.store },
      { name: 'features (val)', store: features.val.store },
    ]);
  }
  let clip: ClipModel | undefined;
  let prompted: EmbeddingStore | undefined;
  if (stages.includes('embeddings')) {
    clip = given.clip ?? (await ClipModel.load(inputs.clip, clipLoadOptions(inputs)));
    prompted = await EmbeddingStore.open(promptedStoreOptions(promptedInputs(inputs, clip, [...train, ...val])));
    named.set('embeddings', [{ name: 'prompted embeddings (train+val)', store: prompted.rows }]);
  }
  const split = (samples: Sample[], fs: FeatureStore<Sample> | undefined, promptedFirst: number): SplitStores => ({
    samples,
    ...(fs ? { features: fs } : {}),
    promptedFirst,
  });
  return {
    folder,
    cacheDir: inputs.cacheDir,
    engine,
    ...(backbone ? { backbone } : {}),
    ...(clip ? { clip } : {}),
    ...(prompted ? { prompted } : {}),
    train: split(train, features?.train, 0),
    val: split(val, features?.val, train.length),
    stages: named,
  };
}

/** Computes the worker's block (all shards without `worker`) of every opened store that is missing shards. */
export async function computeStores(stores: PrecomputeStores, inputs: PrecomputeInputs, worker?: WorkerShard): Promise<void> {
  const progress = inputs.progress ?? silentProgress;
  if (stores.backbone) {
    for (const [split, label] of [
      [stores.train, 'features (train)'],
      [stores.val, 'features (val)'],
    ] as const) {
      await computeFeatureStore(stores.backbone, split.samples, {
        cacheDir: inputs.cacheDir,
        dtype: inputs.featureDtype,
        shardSize: inputs.shardSize,
        batchSize: inputs.batchSize ?? TRAINING_DEFAULTS.batchSize,
        skipBad: inputs.skipBad,
        progress,
        label,
        worker,
        beforeShardCommit: inputs.beforeShardCommit,
      });
    }
  }
  if (stores.prompted && stores.clip) {
    const clipResize: ResizeSpec = { size: stores.clip.inputSize, mode: 'center' };
    await computePromptedEmbeddings({
      ...promptedInputs(inputs, stores.clip, [...stores.train.samples, ...stores.val.samples]),
      loadImage: (p) => loadRgb(p, clipResize, { interpolation: 'bicubic' }),
      skipBad: inputs.skipBad,
      progress,
      worker,
      beforeShardCommit: inputs.beforeShardCommit,
    });
  }
}

/**
 * One worker of a distributed pre-computation (`salf-cbm precompute`): joins each stage's job
 * record (refused when the worker count or the stores differ from the job's), computes its block
 * of shards and returns the status of every store of the stages. `command` is the worker
 * command's arguments without `--shard`, `--shard-count` and `--stage` (recorded for the status).
 */
export async function precomputeWorker(
  inputs: PrecomputeInputs,
  stages: readonly PrecomputeStage[],
  worker: WorkerShard,
  command: readonly string[],
): Promise<StatusReport> {
  const stores = await openStores(inputs, stages);
  for (const [stage, list] of stores.stages) joinJob(inputs.cacheDir, stage, worker, jobStores(list), command);
  inputs.progress?.log(`worker ${worker.index}/${worker.count} (${worker.source})`);
  await computeStores(stores, inputs, worker);
  return status(stores, command);
}

/** The status of every store of the stages, with the commands that compute missing shards. */
export function status(stores: PrecomputeStores, command: readonly string[]): StatusReport {
  return statusReport(
    [...stores.stages].map(([stage, list]) => ({ stage, stores: list, record: readJobRecord(stores.cacheDir, stage) })),
    command,
  );
}

/**
 * The stores a training run reads, complete: missing shards are computed here when no job record
 * is in the cache folder (or with `computeMissing`); when a distributed job fills them, a missing
 * shard or a store that differs from the job's is refused with the status and the commands that
 * redo the missing shards.
 */
export async function trainingStores(
  inputs: PrecomputeInputs & { computeMissing?: boolean },
  given: { engine?: Engine; clip?: ClipModel } = {},
): Promise<PrecomputeStores> {
  const stores = await openStores(inputs, PRECOMPUTE_STAGES, given);
  if (!inputs.computeMissing) {
    for (const [stage, list] of stores.stages) {
      const record = readJobRecord(inputs.cacheDir, stage);
      if (!record) continue;
      checkStores(record, jobStores(list), jobRecordPath(inputs.cacheDir, stage));
      const report = status(stores, record.command);
      if (!report.complete) {
        throw new Error(
          `${jobRecordPath(inputs.cacheDir, stage)}: the distributed pre-computation is not complete:\n${report.lines.join('\n')}\n` +
            'Run the commands above (or pass --compute-missing to compute the missing shards here).',
        );
      }
    }
  }
  await computeStores(stores, inputs);
  return stores;
}

/** The split's rows kept in both stores (images that decoded for the backbone and for CLIP); both stores must be complete. */
export function keptRows(stores: PrecomputeStores, split: SplitStores): KeptSplit {
  const { features, prompted } = bothStores(stores, split);
  const bad = new Set(prompted.skipped().map((s) => s.row - split.promptedFirst));
  const featureRows = features.kept().filter((r) => !bad.has(r));
  return { samples: featureRows.map((r) => split.samples[r]!), featureRows, promptedRows: featureRows.map((r) => split.promptedFirst + r) };
}

/** Images skipped by either store (each listed once). */
export function skippedImages(stores: PrecomputeStores): { path: string; reason: string }[] {
  const all = [...bothStores(stores, stores.train).features.skipped(), ...bothStores(stores, stores.val).features.skipped(), ...stores.prompted!.skipped()];
  const seen = new Set<string>();
  return all.filter((s) => !seen.has(s.path) && seen.add(s.path)).map(({ path, reason }) => ({ path, reason }));
}

function bothStores(stores: PrecomputeStores, split: SplitStores): { features: FeatureStore<Sample>; prompted: EmbeddingStore } {
  if (!split.features || !stores.prompted) throw new Error('precompute: the features and embeddings stages must both be opened to read training rows');
  return { features: split.features, prompted: stores.prompted };
}

function jobStores(list: readonly { name: string; store: RowStore }[]): JobStore[] {
  return list.map((x) => jobStore(x.name, x.store));
}

function promptedInputs(inputs: PrecomputeInputs, clip: ClipModel, samples: readonly Sample[]): Omit<ComputeOptions, 'loadImage'> {
  const clipResize: ResizeSpec = { size: clip.inputSize, mode: 'center' };
  return {
    encoder: clip,
    images: samples.map((s) => s.path),
    resize: { ...clipResize, interpolation: 'bicubic' },
    grid: inputs.grid ?? TRAINING_DEFAULTS.grid,
    radius: inputs.radius ?? defaultRadius(clip.inputSize),
    placement: inputs.placement,
    cacheDir: inputs.cacheDir,
    shardSize: inputs.shardSize,
  };
}

/** How CLIP is loaded for these inputs (device, precision, batch). */
export function clipLoadOptions(inputs: Pick<PrecomputeInputs, 'device' | 'clipPrecision' | 'clipBatch'>): ClipLoadOptions {
  return { device: inputs.device, precision: inputs.clipPrecision, imageBatch: inputs.clipBatch };
}

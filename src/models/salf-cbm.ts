/**
 * A trained SALF-CBM: its configuration, learned tensors, saving/loading as a directory, and
 * the forward pass from grid features to logits, concept maps and concept activations.
 *
 * Directory layout (documented in the README):
 *   config.json          SalfCbmConfig
 *   concepts.json        the M concept strings, in weight order
 *   classes.json         the L class names, in logit order
 *   weights.safetensors  concept_layer.weight [M,D], standardise.mean [M], standardise.std [M],
 *                        final_layer.weight [L,M], final_layer.bias [L]
 *   metrics.json         training metrics (optional)
 *   manifest.json        size and SHA-256 of each file above, written last (model-folder.ts)
 *
 * Loading verifies every file against the manifest, each tensor's shape against the config and
 * the names, and refuses non-finite weights and standard deviations that are not positive.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, dataF32, f32, getDefaultEngine, type ModelResource } from '../engine/session.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { MANIFEST_FILE, openModelFolder, writeModelFolder } from './model-folder.js';
import { HEAD_OUTPUTS, POOLINGS, buildHeadModel, type HeadShape, type HeadWeights, type Pooling } from './salf-head.js';
import { Backbone, type BackboneConfig } from './backbone.js';
import { extractFeatures } from './extract-features.js';
import { checkJson } from '../data/json-schema.js';
import { nameListSchema, salfCbmConfigSchema } from './config-schemas.js';

/** Everything besides the tensors that defines a SALF-CBM. */
export interface SalfCbmConfig {
  format: 'salf-cbm';
  version: 1;
  backbone: BackboneConfig;
  /** The CLIP model that produced the training targets (provenance; not needed to predict). */
  clip: { source: string; id: string };
  grid: [number, number];
  prompting: { radius: number; placement: string };
  pooling: Pooling;
  finalLayer: { mode: 'sparse' | 'dense'; lambda?: number; nec: number; nonZeros: number };
  /** Feature channels D. */
  featureDim: number;
}

/** Outputs of the forward pass for a batch of n images. */
export interface SalfOutputs {
  n: number;
  /** n×L */
  logits: Float32Array;
  /** n×M×Gh×Gw */
  conceptMaps: Float32Array;
  /** Pooled activations c*, n×M */
  activations: Float32Array;
  /** Standardised activations ĉ, n×M */
  standardised: Float32Array;
}

const TENSOR_NAMES = {
  conceptWeight: 'concept_layer.weight',
  mean: 'standardise.mean',
  std: 'standardise.std',
  finalWeight: 'final_layer.weight',
  finalBias: 'final_layer.bias',
} as const;

/** A SALF-CBM head with its concept and class names. */
export class SalfCbm implements ModelResource {
  private readonly engine: Engine;
  private backboneLoad: Promise<Backbone> | undefined;

  constructor(
    readonly config: SalfCbmConfig,
    readonly concepts: string[],
    readonly classes: string[],
    readonly weights: HeadWeights,
    engine?: Engine,
  ) {
    this.engine = engine ?? getDefaultEngine();
    const { M, L, D } = this.shape;
    const check = (name: string, got: number, want: number): void => {
      if (got !== want) throw new Error(`SALF-CBM: ${name} has ${got} values, expected ${want} (M=${M}, L=${L}, D=${D})`);
    };
    if (M === 0) throw new Error('SALF-CBM: the concept list is empty');
    check(TENSOR_NAMES.conceptWeight, weights.conceptWeight.length, M * D);
    check(TENSOR_NAMES.mean, weights.mean.length, M);
    check(TENSOR_NAMES.std, weights.std.length, M);
    check(TENSOR_NAMES.finalWeight, weights.finalWeight.length, L * M);
    check(TENSOR_NAMES.finalBias, weights.finalBias.length, L);
    for (const [key, name] of Object.entries(TENSOR_NAMES) as [keyof HeadWeights, string][]) {
      const bad = firstNonFinite(weights[key]);
      if (bad >= 0) throw new Error(`SALF-CBM: ${name} holds ${weights[key][bad]} at index ${bad}; weights must be finite`);
    }
    if (!POOLINGS.includes(config.pooling)) throw new Error(`SALF-CBM: unknown pooling "${config.pooling}" (use ${POOLINGS.join(', ')})`);
  }

  /** D, M, L and the grid. */
  get shape(): HeadShape {
    return { D: this.config.featureDim, M: this.concepts.length, L: this.classes.length, grid: this.config.grid };
  }

  /** Runs the head on channels-last grid features (n×G×D). */
  async forwardFeatures(features: Float32Array, n: number): Promise<SalfOutputs> {
    const { D, grid } = this.shape;
    const G = grid[0] * grid[1];
    if (features.length !== n * G * D) {
      throw new Error(`SALF-CBM: features have ${features.length} values, expected n×G×D = ${n}×${G}×${D}`);
    }
    const session = await this.engine.cached(this, 'salf-head', () => buildHeadModel(this.shape, this.weights, this.config.pooling));
    const out = await session.run({ features: f32(features, [n, G, D]) });
    return {
      n,
      logits: dataF32(out[HEAD_OUTPUTS.logits]!),
      conceptMaps: dataF32(out[HEAD_OUTPUTS.conceptMaps]!),
      activations: dataF32(out[HEAD_OUTPUTS.activations]!),
      standardised: dataF32(out[HEAD_OUTPUTS.standardised]!),
    };
  }

  /** The frozen backbone named in the config, loaded on first use. */
  backbone(): Promise<Backbone> {
    this.backboneLoad ??= Backbone.load(this.config.backbone, this.config.grid, this.engine);
    return this.backboneLoad;
  }

  /**
   * Runs backbone and head on image files. Returns the outputs for the images that decoded
   * and the paths of those that did not (only with `skipBad`; otherwise a bad file throws).
   */
  async forwardImages(
    paths: readonly string[],
    options: { batchSize?: number; skipBad?: boolean } = {},
  ): Promise<SalfOutputs & { paths: string[]; skipped: { path: string; reason: string }[] }> {
    const backbone = await this.backbone();
    const feats = await extractFeatures(
      backbone,
      paths.map((path) => ({ path })),
      options,
    );
    const out = await this.forwardFeatures(feats.F, feats.samples.length);
    return { ...out, paths: feats.samples.map((s) => s.path), skipped: feats.skipped };
  }

  /**
   * Releases the head's session and forgets the loaded backbone (whose session is the engine's,
   * shared by the models of the same backbone file, released with the engine). The model stays
   * usable: a later forward pass opens them again.
   */
  async dispose(): Promise<void> {
    this.backboneLoad = undefined;
    await this.engine.evict(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Class probabilities (softmax of the logits) of image `i` in `out`. */
  probabilities(out: SalfOutputs, i: number): Float32Array {
    const L = this.classes.length;
    const z = out.logits.subarray(i * L, (i + 1) * L);
    const max = Math.max(...z);
    const e = Float32Array.from(z, (v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  /**
   * Saves the model as a directory, as a unit: a save that stops part-way leaves a folder that
   * `load` refuses (model-folder.ts). A `metrics.json` from an earlier save is removed when no
   * metrics are given.
   */
  save(dir: string, metrics?: unknown): void {
    const { M, L, D } = this.shape;
    const weights = encodeSafetensors(
      {
        [TENSOR_NAMES.conceptWeight]: { data: this.weights.conceptWeight, shape: [M, D] },
        [TENSOR_NAMES.mean]: { data: this.weights.mean, shape: [M] },
        [TENSOR_NAMES.std]: { data: this.weights.std, shape: [M] },
        [TENSOR_NAMES.finalWeight]: { data: this.weights.finalWeight, shape: [L, M] },
        [TENSOR_NAMES.finalBias]: { data: this.weights.finalBias, shape: [L] },
      },
      { format: 'salf-cbm', version: '1' },
    );
    const json = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';
    writeModelFolder(
      dir,
      {
        [WEIGHTS_FILE]: weights,
        'concepts.json': json(this.concepts),
        'classes.json': json(this.classes),
        ...(metrics !== undefined ? { 'metrics.json': json(metrics) } : {}),
        'config.json': json(this.config),
      },
      ['metrics.json'],
    );
  }

  /** Loads a model directory written by `save`, verifying it (see the module comment). */
  static load(dir: string, engine?: Engine): SalfCbm {
    const configPath = join(dir, 'config.json');
    if (![configPath, join(dir, MANIFEST_FILE), join(dir, WEIGHTS_FILE)].some((f) => existsSync(f))) {
      throw new Error(`${dir}: not a SALF-CBM model directory (no config.json)`);
    }
    const folder = openModelFolder(dir, 'SALF-CBM model folder');
    const raw = folder.json('config.json') as { format?: unknown } | null;
    if (raw?.format !== 'salf-cbm') throw new Error(`${configPath}: not a SALF-CBM config (format is ${String(raw?.format)})`);
    const config: SalfCbmConfig = checkJson(raw, salfCbmConfigSchema, configPath, 'SALF-CBM config');
    if (!(Number.isInteger(config.featureDim) && config.featureDim > 0))
      throw new Error(`${configPath}: featureDim must be a positive integer, got ${JSON.stringify(config.featureDim)}`);
    const concepts = checkJson(folder.json('concepts.json'), nameListSchema, join(dir, 'concepts.json'), 'concept list');
    const classes = checkJson(folder.json('classes.json'), nameListSchema, join(dir, 'classes.json'), 'class list');
    const weightsPath = join(dir, WEIGHTS_FILE);
    const { tensors } = decodeSafetensors(folder.bytes(WEIGHTS_FILE), weightsPath);
    const [M, L, D] = [concepts.length, classes.length, config.featureDim];
    const get = (name: string, shape: number[]): Float32Array => {
      const t = tensors[name];
      if (!t) throw new Error(`${weightsPath}: missing tensor ${name}`);
      if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
        throw new Error(
          `${weightsPath}: tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] (M=${M} concepts, L=${L} classes, D=${D} from config.json)`,
        );
      }
      const bad = firstNonFinite(t.data);
      if (bad >= 0)
        throw new Error(`${weightsPath}: tensor ${name} holds ${t.data[bad]} at index ${bad}; the model is corrupt or its training diverged — train it again`);
      return t.data;
    };
    const std = get(TENSOR_NAMES.std, [M]);
    const flat = std.findIndex((v) => !(v > 0));
    if (flat >= 0) throw new Error(`${weightsPath}: ${TENSOR_NAMES.std} of concept "${concepts[flat]}" is ${std[flat]}; standard deviations must be positive`);
    return new SalfCbm(
      config,
      concepts,
      classes,
      {
        conceptWeight: get(TENSOR_NAMES.conceptWeight, [M, D]),
        mean: get(TENSOR_NAMES.mean, [M]),
        std,
        finalWeight: get(TENSOR_NAMES.finalWeight, [L, M]),
        finalBias: get(TENSOR_NAMES.finalBias, [L]),
      },
      engine,
    );
  }
}

const WEIGHTS_FILE = 'weights.safetensors';

/** Index of the first NaN or infinity in `data`, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

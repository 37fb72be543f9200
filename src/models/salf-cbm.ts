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
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../data/atomic-write.js';
import { Engine, dataF32, f32, getDefaultEngine } from '../engine/session.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { HEAD_OUTPUTS, POOLINGS, buildHeadModel, type HeadShape, type HeadWeights, type Pooling } from './salf-head.js';
import { Backbone, type BackboneConfig } from './backbone.js';
import { extractFeatures } from './extract-features.js';
import { readJsonAs } from '../data/json-schema.js';
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
export class SalfCbm {
  private static instances = 0;
  private readonly engine: Engine;
  /** Distinguishes this model's cached head session from other models'. */
  private readonly uid = SalfCbm.instances++;
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
    const session = await this.engine.cached(`salf-head:${this.config.pooling}:${this.uid}`, () =>
      buildHeadModel(this.shape, this.weights, this.config.pooling),
    );
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
  async forwardImages(paths: readonly string[], options: { batchSize?: number; skipBad?: boolean } = {}): Promise<SalfOutputs & { paths: string[]; skipped: { path: string; reason: string }[] }> {
    const backbone = await this.backbone();
    const feats = await extractFeatures(backbone, paths.map((path) => ({ path })), options);
    const out = await this.forwardFeatures(feats.F, feats.samples.length);
    return { ...out, paths: feats.samples.map((s) => s.path), skipped: feats.skipped };
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

  /** Saves the model as a directory (atomic per file). */
  save(dir: string, metrics?: unknown): void {
    const { M, L, D } = this.shape;
    writeSafetensors(
      join(dir, 'weights.safetensors'),
      {
        [TENSOR_NAMES.conceptWeight]: { data: this.weights.conceptWeight, shape: [M, D] },
        [TENSOR_NAMES.mean]: { data: this.weights.mean, shape: [M] },
        [TENSOR_NAMES.std]: { data: this.weights.std, shape: [M] },
        [TENSOR_NAMES.finalWeight]: { data: this.weights.finalWeight, shape: [L, M] },
        [TENSOR_NAMES.finalBias]: { data: this.weights.finalBias, shape: [L] },
      },
      { format: 'salf-cbm', version: '1' },
    );
    writeJsonAtomic(join(dir, 'concepts.json'), this.concepts);
    writeJsonAtomic(join(dir, 'classes.json'), this.classes);
    if (metrics !== undefined) writeJsonAtomic(join(dir, 'metrics.json'), metrics);
    writeJsonAtomic(join(dir, 'config.json'), this.config);
  }

  /** Loads a model directory written by `save`. */
  static load(dir: string, engine?: Engine): SalfCbm {
    const configPath = join(dir, 'config.json');
    if (!existsSync(configPath)) throw new Error(`${dir}: not a SALF-CBM model directory (no config.json)`);
    const config = readJsonAs(configPath, salfCbmConfigSchema, 'SALF-CBM config');
    const concepts = readJsonAs(join(dir, 'concepts.json'), nameListSchema, 'concept list');
    const classes = readJsonAs(join(dir, 'classes.json'), nameListSchema, 'class list');
    const { tensors } = readSafetensors(join(dir, 'weights.safetensors'));
    const get = (name: string): Float32Array => {
      const t = tensors[name];
      if (!t) throw new Error(`${join(dir, 'weights.safetensors')}: missing tensor ${name}`);
      return t.data;
    };
    return new SalfCbm(
      config,
      concepts,
      classes,
      {
        conceptWeight: get(TENSOR_NAMES.conceptWeight),
        mean: get(TENSOR_NAMES.mean),
        std: get(TENSOR_NAMES.std),
        finalWeight: get(TENSOR_NAMES.finalWeight),
        finalBias: get(TENSOR_NAMES.finalBias),
      },
      engine,
    );
  }
}

/**
 * What explanations need from a SALF-CBM, behind one interface: a model directory (`SalfCbm`
 * with its ONNX backbone) or a single exported ONNX file (`ExportedSalfCbm`) both run normalised
 * pixels to the head's outputs and expose the names and the learned classifier tensors.
 */
import { existsSync, statSync } from 'node:fs';
import { Engine, getDefaultEngine, type ModelResource } from '../engine/session.js';
import type { BackboneConfig } from './backbone.js';
import { ExportedSalfCbm } from './exported.js';
import { SalfCbm, type SalfOutputs } from './salf-cbm.js';
import type { HeadWeights, Pooling } from './salf-head.js';

/**
 * A SALF-CBM as the explanation tools see it. Graphs built for it (the intervention graph) are
 * cached under it in its engine; `dispose()` releases them with the model's own sessions.
 */
export interface ConceptModel extends ModelResource {
  /** The M concepts, in weight order. */
  readonly concepts: readonly string[];
  /** The L classes, in logit order. */
  readonly classes: readonly string[];
  /** The prompting grid [Gh, Gw]. */
  readonly grid: readonly [number, number];
  readonly pooling: Pooling;
  /** Standardisation statistics (M) and the final layer W_F (L×M) and b_F (L). */
  readonly head: Pick<HeadWeights, 'mean' | 'std' | 'finalWeight' | 'finalBias'>;
  /** How images become the model input (square side `resize.size`). */
  readonly preprocess: BackboneConfig['preprocess'];
  /** Runs the model's own graphs (also used for the intervention graph). */
  readonly engine: Engine;
  /** Runs `n` images given as normalised float32 NCHW pixels (n×3×S×S). */
  forwardPixels(pixels: Float32Array, n: number): Promise<SalfOutputs>;
}

/**
 * A `SalfCbm` (model directory) as a ConceptModel; `engine` should be the one it was loaded with.
 * Its `dispose()` releases what is cached under it and the model's own sessions.
 */
export function conceptModelFromSalf(model: SalfCbm, engine: Engine = getDefaultEngine()): ConceptModel {
  const view: ConceptModel = {
    concepts: model.concepts,
    classes: model.classes,
    grid: model.config.grid,
    pooling: model.config.pooling,
    head: model.weights,
    preprocess: model.config.backbone.preprocess,
    engine,
    async forwardPixels(pixels: Float32Array, n: number): Promise<SalfOutputs> {
      const backbone = await model.backbone();
      const { features } = await backbone.run(pixels, n);
      return model.forwardFeatures(features, n);
    },
    async dispose(): Promise<void> {
      await Promise.all([engine.evict(view), model.dispose()]);
    },
    async [Symbol.asyncDispose](): Promise<void> {
      await view.dispose();
    },
  };
  return view;
}

/**
 * Loads a model directory (config.json, weights.safetensors …) or an exported single-file
 * `.onnx` (with its JSON sidecar), with errors naming the path.
 *
 * @example
 * ```ts
 * const model = await loadConceptModel('model/'); // or 'model.onnx' from `salf-cbm export`
 * console.log(model.concepts.length, model.classes);
 * ```
 */
export async function loadConceptModel(path: string, engine: Engine = getDefaultEngine()): Promise<ConceptModel> {
  if (!existsSync(path)) throw new Error(`${path}: model not found (expected a SALF-CBM model directory or an exported .onnx file)`);
  if (statSync(path).isDirectory()) return conceptModelFromSalf(SalfCbm.load(path, engine), engine);
  return ExportedSalfCbm.load(path, engine);
}

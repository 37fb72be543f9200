/**
 * The SALF-CBM head as ONNX graphs (SPEC steps 3–4): grid features → concept maps (the 1×1
 * conv W_c) → spatial pooling → standardisation → final linear layer. One set of node builders
 * serves the library's forward pass, the single-file export (appended to a backbone of any
 * ONNX opset from 7 on), local intervention (concept maps → logits on edited maps) and training
 * (features → pooled activations). The plain TypeScript version of the same equations, the
 * explorer page's and the tests' reference, is `web/core/classify.ts`.
 *
 * The nodes are written for any opset from 7 on: Reduce* take `axes` as an attribute before
 * opset 13 (ReduceSum) / 18 (ReduceMean, ReduceMax) and as an input after, and Softmax is only
 * applied to the last axis, where its meaning is the same before and after opset 13 — so maps
 * are pooled in the N×M×G layout.
 */
import { GraphBuilder, attr } from '../engine/onnx-builder.js';

/** How concept maps are pooled to one activation per concept (SPEC: mean is the paper's). */
export type Pooling = 'mean' | 'max' | 'softmax';
export const POOLINGS: readonly Pooling[] = ['mean', 'max', 'softmax'];

/** The learned tensors of a SALF-CBM. */
export interface HeadWeights {
  /** Concept layer W_c, M×D row-major. */
  conceptWeight: Float32Array;
  /** Standardisation statistics of pooled activations over the training set, length M. */
  mean: Float32Array;
  std: Float32Array;
  /** Final layer W_F, L×M row-major, and bias b_F, length L. */
  finalWeight: Float32Array;
  finalBias: Float32Array;
}

/** The statistics and final layer: what pooling → logits needs. */
export type ClassifierWeights = Pick<HeadWeights, 'mean' | 'std' | 'finalWeight' | 'finalBias'>;

export interface HeadShape {
  /** Feature channels D, concepts M, classes L, grid Gh×Gw. */
  D: number;
  M: number;
  L: number;
  grid: readonly [number, number];
}

/** Names of the head's outputs. */
export const HEAD_OUTPUTS = {
  logits: 'logits',
  conceptMaps: 'concept_maps',
  activations: 'concept_activations',
  standardised: 'concept_standardised',
} as const;

/** Output names of the head (HEAD_OUTPUTS unless the caller renames them). */
export type HeadOutputNames = { [K in keyof typeof HEAD_OUTPUTS]: string };

/** Lowest default-domain opset the head needs (multidirectional broadcasting). */
export const HEAD_MIN_OPSET = 7;

/** Initializer names of the learned tensors inside a head graph (and an exported model). */
export const HEAD_TENSORS = {
  conceptWeightT: 'salf_head_concept_weight_t',
  mean: 'salf_head_standardise_mean',
  std: 'salf_head_standardise_std',
  finalWeight: 'salf_head_final_weight',
  finalBias: 'salf_head_final_bias',
} as const;

/** A Reduce* node over one axis without keeping it, in the form `opset` expects. */
function reduce(b: GraphBuilder, op: 'ReduceMean' | 'ReduceMax' | 'ReduceSum', x: string, axis: number, opset: number): string {
  const axesAsInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
  return axesAsInput ? b.op(op, [x, b.constI64([axis])], { keepdims: attr.i(0) }) : b.op(op, [x], { axes: attr.ints([axis]), keepdims: attr.i(0) });
}

/**
 * Adds the concept layer reading channels-last grid features `features` (N×G×D): the 1×1 conv
 * as a MatMul by W_cᵀ, then the maps moved to N×M×G. Returns the maps' name.
 */
export function addConceptMapNodes(b: GraphBuilder, features: string, shape: Pick<HeadShape, 'D' | 'M'>, conceptWeight: Float32Array): string {
  const wct = b.constF32Transposed(conceptWeight, shape.M, shape.D, HEAD_TENSORS.conceptWeightT);
  const mapsNGM = b.op('MatMul', [features, wct]);
  return b.op('Transpose', [mapsNGM], { perm: attr.ints([0, 2, 1]) });
}

/** Adds the pooling of concept maps `mapsNMG` (N×M×G) over G; returns the pooled N×M. */
export function addPoolNodes(b: GraphBuilder, mapsNMG: string, pooling: Pooling, opset: number): string {
  if (pooling === 'mean') return reduce(b, 'ReduceMean', mapsNMG, 2, opset);
  if (pooling === 'max') return reduce(b, 'ReduceMax', mapsNMG, 2, opset);
  if (pooling === 'softmax') {
    const weights = b.op('Softmax', [mapsNMG], { axis: attr.i(2) });
    return reduce(b, 'ReduceSum', b.op('Mul', [weights, mapsNMG]), 2, opset);
  }
  throw new Error(`SALF-CBM head: unknown pooling "${String(pooling)}" (use mean, max or softmax)`);
}

/**
 * Adds pooling, standardisation and the final layer reading concept maps `mapsNMG` (N×M×G,
 * G = Gh·Gw). Writes `names.activations` (c*, N×M), `names.standardised` (ĉ, N×M) and
 * `names.logits` (N×L). Declares no graph outputs.
 */
export function addClassifierNodes(
  b: GraphBuilder,
  mapsNMG: string,
  shape: Pick<HeadShape, 'M' | 'L'>,
  w: ClassifierWeights,
  pooling: Pooling,
  opset: number,
  names: Omit<HeadOutputNames, 'conceptMaps'>,
): void {
  const { M, L } = shape;
  const pooled = addPoolNodes(b, mapsNMG, pooling, opset);
  b.op('Identity', [pooled], {}, names.activations);
  const mean = b.constF32(w.mean, [M], HEAD_TENSORS.mean);
  const std = b.constF32(w.std, [M], HEAD_TENSORS.std);
  b.op('Div', [b.op('Sub', [pooled, mean]), std], {}, names.standardised);
  const wf = b.constF32(w.finalWeight, [L, M], HEAD_TENSORS.finalWeight);
  const bf = b.constF32(w.finalBias, [L], HEAD_TENSORS.finalBias);
  b.op('Gemm', [names.standardised, wf, bf], { transB: attr.i(1) }, names.logits);
}

/**
 * Adds the whole head reading channels-last grid features `features` (N×G×D): the concept maps
 * `names.conceptMaps` (N×M×Gh×Gw) and the classifier nodes. Declares no graph outputs.
 */
export function addHeadNodes(
  b: GraphBuilder,
  features: string,
  shape: HeadShape,
  w: HeadWeights,
  pooling: Pooling,
  opset: number,
  names: HeadOutputNames,
): void {
  const { M, grid } = shape;
  const mapsNMG = addConceptMapNodes(b, features, shape, w.conceptWeight);
  b.op('Reshape', [mapsNMG, b.constI64([0, M, grid[0], grid[1]])], {}, names.conceptMaps);
  addClassifierNodes(b, mapsNMG, shape, w, pooling, opset, names);
}

/** A standalone head graph whose input `features` is N×G×D, with the four HEAD_OUTPUTS. */
export function buildHeadModel(shape: HeadShape, w: HeadWeights, pooling: Pooling): Uint8Array {
  const b = new GraphBuilder('salf_cbm_head');
  const { M, L, grid } = shape;
  const features = b.input('features', 'float32', ['N', grid[0] * grid[1], shape.D]);
  addHeadNodes(b, features, shape, w, pooling, b.opset, HEAD_OUTPUTS);
  b.output(HEAD_OUTPUTS.logits, 'float32', ['N', L]);
  b.output(HEAD_OUTPUTS.conceptMaps, 'float32', ['N', M, grid[0], grid[1]]);
  b.output(HEAD_OUTPUTS.activations, 'float32', ['N', M]);
  b.output(HEAD_OUTPUTS.standardised, 'float32', ['N', M]);
  return b.toBytes();
}

/**
 * A standalone graph from concept maps to the classifier outputs: input `concept_maps`
 * (N×M×Gh×Gw), outputs `logits`, `concept_activations`, `concept_standardised`.
 */
export function buildClassifierModel(shape: Pick<HeadShape, 'M' | 'L' | 'grid'>, w: ClassifierWeights, pooling: Pooling): Uint8Array {
  const b = new GraphBuilder('salf_cbm_classifier');
  const { M, L, grid } = shape;
  const maps = b.input(HEAD_OUTPUTS.conceptMaps, 'float32', ['N', M, grid[0], grid[1]]);
  const mapsNMG = b.op('Reshape', [maps, b.constI64([0, M, grid[0] * grid[1]])]);
  addClassifierNodes(b, mapsNMG, shape, w, pooling, b.opset, HEAD_OUTPUTS);
  b.output(HEAD_OUTPUTS.logits, 'float32', ['N', L]);
  b.output(HEAD_OUTPUTS.activations, 'float32', ['N', M]);
  b.output(HEAD_OUTPUTS.standardised, 'float32', ['N', M]);
  return b.toBytes();
}

/**
 * The training graph (SPEC step 4 at scale): grid features [B, G, D], float16 or float32 (cast
 * first; decoding float16 is exact), → concept maps → pooled activations `activations` [B, M].
 * No standardisation or final layer: training fits those from these activations.
 */
export function buildPoolModel(
  shape: { G: number; D: number; M: number },
  conceptWeight: Float32Array,
  pooling: Pooling,
  dtype: 'float16' | 'float32',
): Uint8Array {
  const b = new GraphBuilder(`pool_activations_${pooling}`);
  const input = b.input('features', dtype, ['B', shape.G, shape.D]);
  const features = dtype === 'float16' ? b.op('Cast', [input], { to: attr.i(1) }) : input;
  const maps = addConceptMapNodes(b, features, shape, conceptWeight);
  b.op('Identity', [addPoolNodes(b, maps, pooling, b.opset)], {}, 'activations');
  b.output('activations', 'float32', ['B', shape.M]);
  return b.toBytes();
}

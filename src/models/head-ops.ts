/**
 * The SALF-CBM head written for any ONNX opset from 7 on, so it can be appended to a backbone
 * without changing the backbone's opset (see `export.ts`), plus the "concept maps → logits"
 * part on its own (pooling, standardisation, final layer), which local intervention re-runs on
 * edited maps.
 *
 * It computes what `salf-head.ts` computes (the library's forward pass): only the forms of the
 * ops differ where ONNX changed them across versions — Reduce* take `axes` as an attribute
 * before opset 13 (ReduceSum) / 18 (ReduceMean, ReduceMax) and as an input after, and Softmax
 * is only applied to the last axis, where its meaning is the same before and after opset 13.
 * The export test checks both give the same numbers.
 */
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { HEAD_OUTPUTS, transpose, type HeadShape, type HeadWeights, type Pooling } from './salf-head.js';

/** Lowest default-domain opset the portable head needs (multidirectional broadcasting). */
export const HEAD_MIN_OPSET = 7;

/** Output names of the head (the same as the library head's). */
export type HeadOutputNames = { [K in keyof typeof HEAD_OUTPUTS]: string };

/** The statistics and final layer: what pooling → logits needs. */
export type ClassifierWeights = Pick<HeadWeights, 'mean' | 'std' | 'finalWeight' | 'finalBias'>;

/** Initializer names of the learned tensors inside an exported model. */
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
  return axesAsInput
    ? b.op(op, [x, b.constI64([axis])], { keepdims: attr.i(0) })
    : b.op(op, [x], { axes: attr.ints([axis]), keepdims: attr.i(0) });
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
  let pooled: string;
  if (pooling === 'mean') pooled = reduce(b, 'ReduceMean', mapsNMG, 2, opset);
  else if (pooling === 'max') pooled = reduce(b, 'ReduceMax', mapsNMG, 2, opset);
  else if (pooling === 'softmax') {
    const weights = b.op('Softmax', [mapsNMG], { axis: attr.i(2) });
    pooled = reduce(b, 'ReduceSum', b.op('Mul', [weights, mapsNMG]), 2, opset);
  } else {
    throw new Error(`SALF-CBM head: unknown pooling "${String(pooling)}" (use mean, max or softmax)`);
  }
  b.op('Identity', [pooled], {}, names.activations);
  const mean = b.constF32(w.mean, [M], HEAD_TENSORS.mean);
  const std = b.constF32(w.std, [M], HEAD_TENSORS.std);
  b.op('Div', [b.op('Sub', [pooled, mean]), std], {}, names.standardised);
  const wf = b.constF32(w.finalWeight, [L, M], HEAD_TENSORS.finalWeight);
  const bf = b.constF32(w.finalBias, [L], HEAD_TENSORS.finalBias);
  b.op('Gemm', [names.standardised, wf, bf], { transB: attr.i(1) }, names.logits);
}

/**
 * Adds the whole head reading channels-last grid features `features` (N×G×D): the 1×1 conv
 * as a MatMul, the concept maps `names.conceptMaps` (N×M×Gh×Gw) and the classifier nodes.
 */
export function addPortableHeadNodes(
  b: GraphBuilder,
  features: string,
  shape: HeadShape,
  w: HeadWeights,
  pooling: Pooling,
  opset: number,
  names: HeadOutputNames,
): void {
  const { D, M, grid } = shape;
  const wct = b.constF32(transpose(w.conceptWeight, M, D), [D, M], HEAD_TENSORS.conceptWeightT);
  const mapsNGM = b.op('MatMul', [features, wct]);
  const mapsNMG = b.op('Transpose', [mapsNGM], { perm: attr.ints([0, 2, 1]) });
  b.op('Reshape', [mapsNMG, b.constI64([0, M, grid[0], grid[1]])], {}, names.conceptMaps);
  addClassifierNodes(b, mapsNMG, shape, w, pooling, opset, names);
}

/**
 * A standalone graph from concept maps to the classifier outputs: input `concept_maps`
 * (N×M×Gh×Gw), outputs `logits`, `concept_activations`, `concept_standardised`.
 */
export function buildClassifierModel(shape: Pick<HeadShape, 'M' | 'L' | 'grid'>, w: ClassifierWeights, pooling: Pooling): Uint8Array {
  const opset = 17;
  const b = new GraphBuilder('salf_cbm_classifier', opset);
  const { M, L, grid } = shape;
  const maps = b.input(HEAD_OUTPUTS.conceptMaps, 'float32', ['N', M, grid[0], grid[1]]);
  const mapsNMG = b.op('Reshape', [maps, b.constI64([0, M, grid[0] * grid[1]])]);
  addClassifierNodes(b, mapsNMG, shape, w, pooling, opset, HEAD_OUTPUTS);
  b.output(HEAD_OUTPUTS.logits, 'float32', ['N', L]);
  b.output(HEAD_OUTPUTS.activations, 'float32', ['N', M]);
  b.output(HEAD_OUTPUTS.standardised, 'float32', ['N', M]);
  return b.toBytes();
}

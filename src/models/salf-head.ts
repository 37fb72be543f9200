/**
 * The SALF-CBM head as an ONNX graph: grid features → concept maps (the 1×1 conv W_c) →
 * spatial pooling → standardisation → final linear layer. The same nodes serve the library's
 * forward pass and the single-file export.
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

/** Transposes an R×C row-major matrix. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

/**
 * Adds the head to `b`, reading channels-last grid features `features` (N×G×D) and writing the
 * four outputs of HEAD_OUTPUTS: logits N×L, concept maps N×M×Gh×Gw, pooled activations N×M and
 * their standardised values N×M.
 */
export function addHeadNodes(b: GraphBuilder, features: string, shape: HeadShape, w: HeadWeights, pooling: Pooling): void {
  const { D, M, L, grid } = shape;
  const wct = b.constF32(transpose(w.conceptWeight, M, D), [D, M], 'salf_concept_weight_t');
  const maps = b.op('MatMul', [features, wct]); // N×G×M
  let pooled: string;
  if (pooling === 'mean') {
    pooled = b.op('ReduceMean', [maps], { axes: attr.ints([1]), keepdims: attr.i(0) });
  } else if (pooling === 'max') {
    pooled = b.op('ReduceMax', [maps], { axes: attr.ints([1]), keepdims: attr.i(0) });
  } else {
    const weights = b.op('Softmax', [maps], { axis: attr.i(1) });
    pooled = b.op('ReduceSum', [b.op('Mul', [weights, maps]), b.constI64([1])], { keepdims: attr.i(0) });
  }
  b.op('Identity', [pooled], {}, HEAD_OUTPUTS.activations);
  const mean = b.constF32(w.mean, [M], 'salf_standardise_mean');
  const std = b.constF32(w.std, [M], 'salf_standardise_std');
  const standardised = b.op('Div', [b.op('Sub', [pooled, mean]), std], {}, HEAD_OUTPUTS.standardised);
  const wf = b.constF32(w.finalWeight, [L, M], 'salf_final_weight');
  const bf = b.constF32(w.finalBias, [L], 'salf_final_bias');
  b.op('Gemm', [standardised, wf, bf], { transB: attr.i(1) }, HEAD_OUTPUTS.logits);
  const mapsNmg = b.op('Transpose', [maps], { perm: attr.ints([0, 2, 1]) });
  b.op('Reshape', [mapsNmg, b.constI64([0, M, grid[0], grid[1]])], {}, HEAD_OUTPUTS.conceptMaps);
  b.output(HEAD_OUTPUTS.logits, 'float32', ['N', L]);
  b.output(HEAD_OUTPUTS.conceptMaps, 'float32', ['N', M, grid[0], grid[1]]);
  b.output(HEAD_OUTPUTS.activations, 'float32', ['N', M]);
  b.output(HEAD_OUTPUTS.standardised, 'float32', ['N', M]);
}

/** A standalone head graph whose input `features` is N×G×D. */
export function buildHeadModel(shape: HeadShape, w: HeadWeights, pooling: Pooling): Uint8Array {
  const b = new GraphBuilder('salf_cbm_head');
  const G = shape.grid[0] * shape.grid[1];
  const features = b.input('features', 'float32', ['N', G, shape.D]);
  addHeadNodes(b, features, shape, w, pooling);
  return b.toBytes();
}

/**
 * Tiny random-weight backbones written as ONNX files, for tests and demos.
 *
 * Their weights are seeded random numbers: they prove the plumbing (shapes, tensor names,
 * CLS handling, resizing, logits), never that an explanation means anything.
 */
import { writeFileSync } from 'node:fs';
import { GraphBuilder, attr, type Dim } from '../../src/engine/onnx-builder.js';
import { Rng } from '../../src/rng.js';

/** What a tiny model file holds, for building a BackboneConfig. */
export interface TinyModelInfo {
  path: string;
  inputName: string;
  /** Square input side S. */
  size: number;
  featureTensor: string;
  logitsTensor: string;
  classes: number;
  /** Feature tensor dims without the batch: [D, h, w] (CNN) or [T, D] (ViT). */
  featureDims: number[];
}

/** Uniform weights scaled to keep activations of order one (He-style, by fan-in). */
function weights(rand: () => number, count: number, fanIn: number, gain = 1): Float32Array {
  const a = gain * Math.sqrt(6 / fanIn);
  return Float32Array.from({ length: count }, () => (rand() * 2 - 1) * a);
}

export interface TinyCnnOptions {
  /** Input side (a multiple of 16); 64 by default, giving a 4×4 feature map. */
  size?: number;
  /** Classes L (10). */
  classes?: number;
  seed?: number;
  /** Batch dimension of the input: symbolic (default 'N') or a fixed number. */
  batch?: Dim;
}

/**
 * A 4-stage CNN: Conv3×3/2+Relu ×4 (3→8→16→32→32 channels); the last stage is `features`
 * (N×32×S/16×S/16), then GlobalAveragePool, Flatten and Gemm to `logits` (N×L). Input `pixels`.
 */
export function writeTinyCnn(path: string, opts: TinyCnnOptions = {}): TinyModelInfo {
  const size = opts.size ?? 64;
  const classes = opts.classes ?? 10;
  if (size % 16 !== 0) throw new Error(`writeTinyCnn: size ${size} is not a multiple of 16`);
  const gen = new Rng(opts.seed ?? 1);
  const rand = (): number => gen.next();
  const b = new GraphBuilder('tiny_cnn');
  let x = b.input('pixels', 'float32', [opts.batch ?? 'N', 3, size, size]);
  const widths = [3, 8, 16, 32, 32];
  for (let s = 1; s < widths.length; s++) {
    const cin = widths[s - 1]!;
    const cout = widths[s]!;
    const w = b.constF32(weights(rand, cout * cin * 9, cin * 9), [cout, cin, 3, 3], `conv${s}.weight`);
    const bias = b.constF32(weights(rand, cout, cin * 9, 0.1), [cout], `conv${s}.bias`);
    const conv = b.op('Conv', [x, w, bias], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }, `conv${s}`);
    x = b.op('Relu', [conv], {}, s === widths.length - 1 ? 'features' : `relu${s}`);
  }
  const d = widths[widths.length - 1]!;
  const pooled = b.op('Flatten', [b.op('GlobalAveragePool', [x], {}, 'pooled')], { axis: attr.i(1) }, 'pooled_flat');
  const fcW = b.constF32(weights(rand, classes * d, d), [classes, d], 'fc.weight');
  const fcB = b.constF32(weights(rand, classes, d, 0.1), [classes], 'fc.bias');
  b.output(b.op('Gemm', [pooled, fcW, fcB], { transB: attr.i(1) }, 'logits'), 'float32', [opts.batch ?? 'N', classes]);
  writeFileSync(path, b.toBytes());
  return { path, inputName: 'pixels', size, featureTensor: 'features', logitsTensor: 'logits', classes, featureDims: [d, size / 16, size / 16] };
}

export interface TinyVitOptions {
  /** Input side (32). */
  size?: number;
  /** Patch side (8); the patch grid is (size/patch)². */
  patch?: number;
  /** Token width D (16). */
  dim?: number;
  /** Classes L (5). */
  classes?: number;
  /** Prepend a learned CLS token (true). Without it the logits come from the mean token. */
  cls?: boolean;
  seed?: number;
  batch?: Dim;
}

/**
 * A ViT-shaped model: patchify Conv (stride = patch) → N×P×D patch tokens, a learned CLS token
 * prepended (T = 1 + P), position embeddings, one token-mixing layer (a fixed T×T mix plus a
 * per-token MLP, both residual) giving `tokens` (N×T×D), and `logits` from the CLS token.
 */
export function writeTinyVit(path: string, opts: TinyVitOptions = {}): TinyModelInfo {
  const size = opts.size ?? 32;
  const patch = opts.patch ?? 8;
  const D = opts.dim ?? 16;
  const classes = opts.classes ?? 5;
  const withCls = opts.cls ?? true;
  if (size % patch !== 0) throw new Error(`writeTinyVit: size ${size} is not a multiple of patch ${patch}`);
  const side = size / patch;
  const P = side * side;
  const T = P + (withCls ? 1 : 0);
  const gen = new Rng(opts.seed ?? 2);
  const rand = (): number => gen.next();
  const b = new GraphBuilder('tiny_vit');
  const x = b.input('pixels', 'float32', [opts.batch ?? 'N', 3, size, size]);
  const fan = 3 * patch * patch;
  const pe = b.op(
    'Conv',
    [x, b.constF32(weights(rand, D * fan, fan), [D, 3, patch, patch], 'patch.weight'), b.constF32(weights(rand, D, fan, 0.1), [D], 'patch.bias')],
    { kernel_shape: attr.ints([patch, patch]), strides: attr.ints([patch, patch]) },
    'patch_embed',
  );
  const flat = b.op('Reshape', [pe, b.constI64([0, D, -1])], {}, 'patch_flat');
  let tok = b.op('Transpose', [flat], { perm: attr.ints([0, 2, 1]) }, 'patch_tokens'); // N×P×D
  if (withCls) {
    const clsParam = b.constF32(weights(rand, D, 1, 0.5), [1, 1, D], 'cls_token');
    const n = b.op('Gather', [b.op('Shape', [x]), b.constI64([0])], { axis: attr.i(0) }, 'batch_size');
    const shape = b.op('Concat', [n, b.constI64([1, D])], { axis: attr.i(0) }, 'cls_shape');
    const clsN = b.op('Expand', [clsParam, shape], {}, 'cls_expanded');
    tok = b.op('Concat', [clsN, tok], { axis: attr.i(1) }, 'with_cls');
  }
  tok = b.op('Add', [tok, b.constF32(weights(rand, T * D, 1, 0.2), [1, T, D], 'pos_embed')], {}, 'embedded');
  const mix = b.constF32(weights(rand, T * T, T, 0.5), [T, T], 'mix.weight');
  const mixed = b.op('Add', [tok, b.op('MatMul', [mix, tok])], {}, 'mixed');
  const w1 = b.constF32(weights(rand, D * 2 * D, D), [D, 2 * D], 'mlp.w1');
  const w2 = b.constF32(weights(rand, 2 * D * D, 2 * D, 0.5), [2 * D, D], 'mlp.w2');
  const hidden = b.op('Relu', [b.op('MatMul', [mixed, w1])], {}, 'mlp_hidden');
  const tokens = b.op('Add', [mixed, b.op('MatMul', [hidden, w2])], {}, 'tokens');
  const summary = withCls
    ? b.op('Gather', [tokens, b.constI64([0])], { axis: attr.i(1) }, 'cls_out') // N×1×D
    : b.op('MatMul', [b.constF32(new Float32Array(T).fill(1 / T), [1, T]), tokens], {}, 'mean_token');
  const feat = b.op('Flatten', [summary], { axis: attr.i(1) }, 'head_in');
  const hw = b.constF32(weights(rand, classes * D, D), [classes, D], 'head.weight');
  const hb = b.constF32(weights(rand, classes, D, 0.1), [classes], 'head.bias');
  b.output(b.op('Gemm', [feat, hw, hb], { transB: attr.i(1) }, 'logits'), 'float32', [opts.batch ?? 'N', classes]);
  writeFileSync(path, b.toBytes());
  return { path, inputName: 'pixels', size, featureTensor: 'tokens', logitsTensor: 'logits', classes, featureDims: [T, D] };
}

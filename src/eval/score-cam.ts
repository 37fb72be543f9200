/**
 * Score-CAM (Wang et al., CVPR-W 2020), forward passes only, as its authors' implementation
 * computes it:
 *
 *   for every channel k of the feature map A (h×w) whose map is not constant:
 *     H_k = minmax(upsample(A_k))                      (bilinear to the input size, to [0, 1])
 *     s_k = softmax(f(x ⊙ H_k))[c]                     (x: the normalised input, c: the target)
 *   map = ReLU(Σ_k s_k · upsample(A_k))
 *
 * Upsampling is linear, so Σ_k s_k·upsample(A_k) = upsample(Σ_k s_k A_k): the weighted sum is
 * formed at the feature map's resolution and upsampled once. A channel counts as constant when
 * its h×w map is (for upsampling, the same as the upsampled map being constant). The masked
 * inputs of a chunk of channels are built by one ONNX graph (upsample, per-channel min–max,
 * multiply) and classified in one batch.
 */
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { dataF32, f32, type Engine } from '../engine/session.js';
import { bilinearMatrix } from '../models/backbone.js';
import { upsampleMaps } from './resample.js';

/** What Score-CAM needs of a classifier. */
export interface ScoreCamModel {
  /** Square input side S. */
  inputSize: number;
  /** Logits n×L of n normalised NCHW images (n×3×S×S). */
  logits(pixels: Float32Array, n: number): Promise<Float32Array>;
  /** Number of classes L. */
  numClasses: number;
}

/** Options of {@link scoreCam}. */
export interface ScoreCamOptions {
  /** Masked images classified per batch; 32. */
  batch?: number;
}

/** The masking graph for h×w maps and S×S inputs: maps [b,h,w], image [1,3,S,S] → masked [b,3,S,S]. */
async function maskingSession(engine: Engine, h: number, w: number, S: number) {
  return engine.cached(`eval-scorecam-mask:${h}x${w}->${S}`, () => {
    const b = new GraphBuilder('eval_scorecam_mask');
    const maps = b.input('maps', 'float32', ['b', h, w]);
    const image = b.input('image', 'float32', [1, 3, S, S]);
    const rh = b.constF32(Float32Array.from(bilinearMatrix(h, S)), [S, h]);
    const rw = bilinearMatrix(w, S);
    const rwt = new Float32Array(w * S);
    for (let o = 0; o < S; o++) for (let i = 0; i < w; i++) rwt[i * S + o] = rw[o * w + i]!;
    const up = b.op('MatMul', [b.op('MatMul', [rh, maps]), b.constF32(rwt, [w, S])]); // b×S×S
    const axes = { axes: attr.ints([1, 2]), keepdims: attr.i(1) };
    const lo = b.op('ReduceMin', [up], axes);
    const hi = b.op('ReduceMax', [up], axes);
    const range = b.op('Sub', [hi, lo]);
    const safe = b.op('Where', [b.op('Greater', [range, b.constF32([0], [])]), range, b.constF32([1], [])]);
    const norm = b.op('Div', [b.op('Sub', [up, lo]), safe]);
    const norm4 = b.op('Unsqueeze', [norm, b.constI64([1])]); // b×1×S×S
    b.op('Mul', [norm4, image], {}, 'masked');
    b.output('masked', 'float32', ['b', 3, S, S]);
    return b.toBytes();
  });
}

/**
 * The Score-CAM map (S×S, ReLU applied, not normalised) of class `target` for one image:
 * `pixels` its normalised input (3×S×S), `features` its channels-last feature map (h·w×D) on
 * the native grid `native`.
 */
export async function scoreCam(
  engine: Engine,
  model: ScoreCamModel,
  pixels: Float32Array,
  features: Float32Array,
  native: [number, number],
  D: number,
  target: number,
  options: ScoreCamOptions = {},
): Promise<Float32Array> {
  const S = model.inputSize;
  const [h, w] = native;
  const P = h * w;
  if (pixels.length !== 3 * S * S) throw new Error(`Score-CAM: the input has ${pixels.length} values, expected 3×${S}×${S}`);
  if (features.length !== P * D) throw new Error(`Score-CAM: the feature map has ${features.length} values, expected ${P}×${D}`);
  if (!(Number.isInteger(target) && target >= 0 && target < model.numClasses))
    throw new Error(`Score-CAM: target class ${target} is outside [0, ${model.numClasses})`);
  const batch = options.batch ?? 32;
  if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`Score-CAM: batch must be a positive integer, got ${batch}`);

  // Channel maps (D×P) and the non-constant channels.
  const maps = new Float32Array(D * P);
  const valid: number[] = [];
  for (let d = 0; d < D; d++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let p = 0; p < P; p++) {
      const v = features[p * D + d]!;
      maps[d * P + p] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (hi > lo) valid.push(d);
  }

  const session = await maskingSession(engine, h, w, S);
  const image = f32(pixels, [1, 3, S, S]);
  const L = model.numClasses;
  const weighted = new Float64Array(P);
  const chunk = new Float32Array(Math.min(batch, Math.max(valid.length, 1)) * P);
  for (let start = 0; start < valid.length; start += batch) {
    const ks = valid.slice(start, start + batch);
    ks.forEach((k, j) => chunk.set(maps.subarray(k * P, (k + 1) * P), j * P));
    const out = await session.run({ maps: f32(chunk.subarray(0, ks.length * P), [ks.length, h, w]), image });
    const logits = await model.logits(dataF32(out.masked!, 'masked inputs'), ks.length);
    ks.forEach((k, j) => {
      const z = logits.subarray(j * L, (j + 1) * L);
      let max = -Infinity;
      for (let c = 0; c < L; c++) if (z[c]! > max) max = z[c]!;
      let sum = 0;
      for (let c = 0; c < L; c++) sum += Math.exp(z[c]! - max);
      const s = Math.exp(z[target]! - max) / sum;
      for (let p = 0; p < P; p++) weighted[p]! += s * maps[k * P + p]!;
    });
  }
  const up = await upsampleMaps(engine, Float32Array.from(weighted), 1, native, [S, S]);
  for (let i = 0; i < up.length; i++) if (up[i]! < 0) up[i] = 0;
  return up;
}

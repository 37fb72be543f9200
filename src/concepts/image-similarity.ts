/**
 * Step 1b's image–concept similarity for the absent-from-data filter (filter.ts): every training
 * image encoded whole and unprompted by CLIP, and per concept the mean of its top-k similarities,
 * kept as a running top-k in a small ONNX graph so memory is k×M whatever the number of images.
 */
import { iterateBatches } from '../data/image-folder.js';
import { clipPreprocess, normaliseInput } from '../data/resize.js';
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { Engine, dataF32, f32, getDefaultEngine, type ort } from '../engine/session.js';
import type { ImageEncoder } from '../models/encoders.js';
import { silentProgress, type Progress } from '../progress.js';
import { FILTER_DEFAULTS } from './filter-stages.js';
import { checkShape } from './text-similarity.js';

/**
 * Running top-k of image–concept similarities: feed batches of normalised image embeddings,
 * read the per-concept mean of the k largest. Memory is k×M whatever the number of images.
 */
export class TopKSimilarity {
  private top: Float32Array;
  private seen = 0;
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly T: Float32Array,
    readonly M: number,
    readonly E: number,
    readonly k: number,
  ) {
    this.top = new Float32Array(k * M).fill(-Infinity);
  }

  /** `T`: the concepts' normalised CLIP text embeddings, M×E. */
  static async create(T: Float32Array, M: number, E: number, k: number = FILTER_DEFAULTS.topK, engine: Engine = getDefaultEngine()): Promise<TopKSimilarity> {
    checkShape(T, M, E, 'T');
    if (!Number.isInteger(k) || k < 1) throw new Error(`top-k: k must be a positive integer (got ${k})`);
    const session = await engine.cached(`concepts.topk-update:E=${E}:k=${k}`, () => {
      const b = new GraphBuilder('concepts_topk_update');
      const prev = b.input('prev', 'float32', [k, 'M']);
      const I = b.input('I', 'float32', ['n', E]);
      const t = b.input('T', 'float32', ['M', E]);
      const s = b.op('Gemm', [I, t], { transB: attr.i(1) });
      const cat = b.op('Concat', [prev, s], { axis: attr.i(0) });
      const [values] = b.node('TopK', [cat, b.constI64([k])], { axis: attr.i(0), largest: attr.i(1), sorted: attr.i(1) }, ['top', 'top_index']);
      b.output(values!, 'float32', [k, 'M']);
      return b.toBytes();
    });
    return new TopKSimilarity(session, T, M, E, k);
  }

  /** Adds `n` image embeddings (n×E, unit rows). */
  async add(I: Float32Array, n: number): Promise<void> {
    if (n === 0) return;
    checkShape(I.subarray(0, n * this.E), n, this.E, 'I');
    const res = await this.session.run(
      { prev: f32(this.top, [this.k, this.M]), I: f32(I.subarray(0, n * this.E), [n, this.E]), T: f32(this.T, [this.M, this.E]) },
      ['top'],
    );
    this.top = Float32Array.from(dataF32(res.top as ort.Tensor, 'top-k'));
    this.seen += n;
  }

  /** Images added so far. */
  get count(): number {
    return this.seen;
  }

  /** Per concept: the mean of its min(k, images) largest similarities. */
  means(): Float32Array {
    if (this.seen === 0) throw new Error('top-k: no image was added');
    const kk = Math.min(this.k, this.seen);
    const out = new Float32Array(this.M);
    for (let m = 0; m < this.M; m++) {
      let s = 0;
      for (let r = 0; r < kk; r++) s += this.top[r * this.M + m]!;
      out[m] = s / kk;
    }
    return out;
  }
}

/** Options of {@link topImageSimilarities}. */
export interface TopImageOptions {
  /** Images per encoder call (default 32). */
  batchSize?: number;
  /** Skip images that cannot be decoded (listed in the result) instead of failing. */
  skipBad?: boolean;
  k?: number;
  engine?: Engine;
  progress?: Progress;
}

/**
 * The mean top-k CLIP similarity of each concept over the images at `paths`: each image resized
 * (shorter side, bicubic) and centre-cropped to CLIP's input, as CLIP's own preprocessing does,
 * encoded whole and unprompted.
 */
export async function topImageSimilarities(
  encoder: ImageEncoder,
  paths: readonly string[],
  T: Float32Array,
  M: number,
  options: TopImageOptions = {},
): Promise<{ means: Float32Array; images: number; skipped: { path: string; reason: string }[] }> {
  if (paths.length === 0) throw new Error('absent-from-data filter: no training images');
  const S = encoder.inputSize;
  const E = encoder.embedDim;
  const batchSize = options.batchSize ?? 32;
  const topk = await TopKSimilarity.create(T, M, E, options.k ?? FILTER_DEFAULTS.topK, options.engine);
  const progress = options.progress ?? silentProgress;
  const per = 3 * S * S;
  const pixels = new Float32Array(batchSize * per);
  const skipped: { path: string; reason: string }[] = [];
  progress.start('CLIP image embeddings', paths.length);
  let done = 0;
  const pre = clipPreprocess(encoder);
  for await (const batch of iterateBatches(
    paths.map((path) => ({ path })),
    pre.resize,
    { batchSize, skipBad: options.skipBad, interpolation: pre.interpolation },
  )) {
    batch.images.forEach((img, i) => normaliseInput(img, pre, pixels, i * per));
    const n = batch.images.length;
    if (n > 0) await topk.add(await encoder.encodeImages(pixels.subarray(0, n * per), n), n);
    skipped.push(...batch.skipped);
    done += n + batch.skipped.length;
    progress.update(done);
  }
  progress.stop();
  if (topk.count === 0) throw new Error(`absent-from-data filter: none of the ${paths.length} images could be decoded`);
  return { means: topk.means(), images: topk.count, skipped };
}

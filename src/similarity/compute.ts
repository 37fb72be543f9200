/**
 * SPEC step 2: prompted-image embeddings for a list of images (resumable, cached on disk) and
 * the local image–concept similarities P = I·Tᵀ computed from them in ONNX Runtime.
 */
import type { RgbImage, ResizeSpec } from '../data/rgb-image.js';
import type { ImageEncoder } from '../models/encoders.js';
import type { Progress } from '../progress.js';
import { GraphBuilder, attr } from '../engine/onnx-builder.js';
import { Engine, dataF32, f32, getDefaultEngine } from '../engine/session.js';
import type { BeforeShardCommit } from '../store/row-store.js';
import { shardsOfWorker, type WorkerShard } from '../store/worker-shard.js';
import { EmbeddingStore, type Fingerprint, type OpenStoreOptions, type SkippedImage } from './embedding-store.js';
import { PromptedBatchBuilder } from './prompted-batch.js';
import type { Placement } from './prompting.js';

/** Options for {@link computePromptedEmbeddings}. */
export interface ComputeOptions {
  /** CLIP's image tower (any ImageEncoder). */
  encoder: ImageEncoder;
  /** Image files, in order. */
  images: readonly string[];
  /** Loads one image as uint8 RGB at `encoder.inputSize`×`encoder.inputSize`. */
  loadImage: (path: string) => Promise<RgbImage>;
  /**
   * How `loadImage` brings images to the input size (a ResizeSpec plus anything else that
   * matters, e.g. the interpolation). Only recorded in the cache key, so that changing the
   * preprocessing never reuses old embeddings.
   */
  resize: ResizeSpec | Record<string, unknown> | string;
  /** Prompt grid [G_h, G_w]. */
  grid: readonly [number, number];
  /** Circle radius in pixels; round(32·S/224) by default. */
  radius?: number;
  /** Centre placement, `inside` by default (see prompting.ts). */
  placement?: Placement;
  /** Circle line width, 2 by default. */
  thickness?: number;
  /** Folder holding embedding stores. */
  cacheDir: string;
  /** Images per shard (the unit of resumption), 64 by default. */
  shardSize?: number;
  /** Prompted images per encoder call, 64 by default. Batches never span shards. */
  batchSize?: number;
  /** Images decoded ahead of the encoder, 8 by default. */
  prefetch?: number;
  /** How image files enter the cache key: `stat` (default) or `content`. */
  fingerprint?: Fingerprint;
  /** Called with (images done, total), first with what earlier runs already stored. */
  onProgress?: (done: number, total: number) => void;
  /** Progress reporting for the CLI (stage `prompted embeddings`). */
  progress?: Progress;
  /** Stops between batches when aborted (completed shards stay stored). */
  signal?: AbortSignal;
  /** Store images that cannot be loaded as skipped zero rows (listed in the shard meta) instead of failing. */
  skipBad?: boolean;
  /** Compute only this worker's block of shards (see src/store/worker-shard.ts); all by default. */
  worker?: WorkerShard;
  /** Test hook, see {@link BeforeShardCommit}. */
  beforeShardCommit?: BeforeShardCommit;
}

/** What opening the store needs of {@link ComputeOptions}. */
export type PromptedStoreInputs = Pick<
  ComputeOptions,
  'encoder' | 'images' | 'resize' | 'grid' | 'radius' | 'placement' | 'thickness' | 'cacheDir' | 'shardSize' | 'fingerprint'
>;

/** The store options (key fields) of a computation, without computing anything. */
export function promptedStoreOptions(options: PromptedStoreInputs): OpenStoreOptions {
  const { encoder } = options;
  const spec = new PromptedBatchBuilder(
    { size: encoder.inputSize, grid: options.grid, radius: options.radius, placement: options.placement, thickness: options.thickness },
    encoder.mean,
    encoder.std,
  ).spec;
  return {
    cacheDir: options.cacheDir,
    images: options.images,
    fingerprint: options.fingerprint,
    encoderId: encoder.id,
    inputSize: encoder.inputSize,
    resize: options.resize,
    mean: encoder.mean,
    std: encoder.std,
    grid: spec.grid,
    radius: spec.radius,
    placement: spec.placement,
    thickness: spec.thickness,
    color: spec.color,
    embedDim: encoder.embedDim,
    shardSize: positive(options.shardSize ?? 64, 'shardSize'),
  };
}

/**
 * Encodes every image with a red circle at every grid position and stores the normalised
 * embeddings I[n, g, :] (float16) under `cacheDir`. An interrupted run resumes from its completed
 * shards; any change to the inputs selects a fresh store. With `worker`, only that worker's block
 * of shards is computed; batches never span shards, so the stored bytes do not depend on how the
 * shards were divided. Returns the store (complete unless other workers' shards are missing).
 */
export async function computePromptedEmbeddings(options: ComputeOptions): Promise<EmbeddingStore> {
  const { encoder, images, loadImage } = options;
  const size = encoder.inputSize;
  const builder = new PromptedBatchBuilder(
    { size, grid: options.grid, radius: options.radius, placement: options.placement, thickness: options.thickness },
    encoder.mean,
    encoder.std,
  );
  const G = builder.count;
  const E = encoder.embedDim;
  const L = builder.imageLength;
  const batchSize = positive(options.batchSize ?? 64, 'batchSize');
  const prefetch = positive(options.prefetch ?? 8, 'prefetch');
  const store = await EmbeddingStore.open(promptedStoreOptions(options));
  const { first: firstShard, end } = shardsOfWorker(options.worker ?? { index: 0, count: 1, source: 'single process' }, store.numShards);
  const mine = Array.from({ length: end - firstShard }, (_, i) => firstShard + i);
  const todo = mine.filter((s) => !store.isComplete(s));
  const rowsOf = (shards: readonly number[]): number => shards.reduce((a, s) => a + store.shardRange(s).count, 0);
  const total = rowsOf(mine);
  let done = total - rowsOf(todo);
  const report = (): void => {
    options.onProgress?.(done, total);
    options.progress?.update(done);
  };
  options.progress?.start('prompted embeddings', total);
  report();

  const paths = images.slice();
  // Images still to encode, in order; the loader reads ahead along this list.
  const order = todo.flatMap((s) => {
    const r = store.shardRange(s);
    return Array.from({ length: r.count }, (_, i) => r.first + i);
  });
  const blank: RgbImage = { width: size, height: size, data: new Uint8Array(size * size * 3) };
  const load = options.skipBad
    ? (p: string) => loadImage(p).catch((err: unknown) => ({ failed: err instanceof Error ? err.message : String(err) }))
    : loadImage;
  const loader = new Prefetcher(
    order.map((i) => paths[i]!),
    load,
    prefetch,
  );
  let position = 0;
  const buffers = [new Float32Array(batchSize * L), new Float32Array(batchSize * L)];
  try {
    for (const shard of todo) {
      const { first, count } = store.shardRange(shard);
      const out = new Float32Array(count * G * E);
      const skipped: SkippedImage[] = [];
      const prompts = count * G;
      let current = -1;
      let flip = 0;
      let pending: { result: Promise<Float32Array>; start: number; n: number } | undefined;
      const finish = async (p: { result: Promise<Float32Array>; start: number; n: number }): Promise<void> => {
        const emb = await p.result;
        const where = `${paths[first + Math.floor(p.start / G)]}`;
        if (emb.length !== p.n * E) {
          throw new Error(`${encoder.id}: encodeImages returned ${emb.length} values for ${p.n} images of width ${E} (batch starting at ${where})`);
        }
        for (let i = 0; i < emb.length; i++) {
          if (!Number.isFinite(emb[i]!)) throw new Error(`${encoder.id}: non-finite embedding in the batch starting at ${where}`);
        }
        out.set(emb, p.start * E);
        const before = Math.floor(p.start / G);
        const after = Math.floor((p.start + p.n) / G);
        if (after > before) {
          done += after - before;
          report();
        }
      };
      for (let start = 0; start < prompts; start += batchSize) {
        options.signal?.throwIfAborted();
        const n = Math.min(batchSize, prompts - start);
        const buf = buffers[flip]!;
        flip ^= 1;
        for (let j = 0; j < n; j++) {
          const k = start + j;
          const img = Math.floor(k / G);
          if (img !== current) {
            const idx = first + img;
            const got = await loader.get(position);
            if ('failed' in got) {
              // Encoded from a blank image to keep the batches as they are; zeroed below.
              skipped.push({ row: idx, path: paths[idx]!, reason: got.failed });
              options.progress?.log(`skipped ${paths[idx]}: ${got.failed}`);
            }
            builder.setBase('failed' in got ? blank : got, paths[idx]);
            loader.release(position);
            position++;
            current = img;
          }
          builder.writePrompt(k % G, buf, j * L);
        }
        // The previous batch was encoding while this one was filled (as far as the encoder runs
        // asynchronously); it used the other buffer, so this one was free to overwrite.
        if (pending) await finish(pending);
        const result = encoder.encodeImages(n === batchSize ? buf : buf.subarray(0, n * L), n);
        result.catch(() => {}); // a failure is reported by finish(); never an unhandled rejection
        pending = { result, start, n };
      }
      if (pending) await finish(pending);
      for (const s of skipped) out.fill(0, (s.row - first) * G * E, (s.row - first + 1) * G * E);
      store.writeShard(shard, out, skipped, options.beforeShardCommit);
    }
  } finally {
    loader.drain();
    options.progress?.stop();
  }
  return store;
}

/** An image that could not be loaded (with `skipBad`). */
interface LoadFailure {
  failed: string;
}

/** Loads the images of a list a few ahead of use; each is fetched once, in list order. */
class Prefetcher {
  private readonly pending = new Map<number, Promise<RgbImage | LoadFailure>>();

  constructor(
    private readonly paths: readonly string[],
    private readonly load: (path: string) => Promise<RgbImage | LoadFailure>,
    private readonly ahead: number,
  ) {}

  /** Image `i` of the list; starts loading the next `ahead` ones. */
  get(i: number): Promise<RgbImage | LoadFailure> {
    if (!this.pending.has(i)) this.start(i);
    for (let j = i + 1; j <= i + this.ahead && j < this.paths.length; j++) if (!this.pending.has(j)) this.start(j);
    return this.pending.get(i)!;
  }

  /** Forgets image `i` once it has been used. */
  release(i: number): void {
    this.pending.delete(i);
  }

  /** Drops everything still loading (their errors are ignored). */
  drain(): void {
    this.pending.clear();
  }

  private start(i: number): void {
    const path = this.paths[i]!;
    const p = this.load(path).catch((err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(msg.includes(path) ? msg : `${path}: ${msg}`);
    });
    p.catch(() => {}); // reported when awaited
    this.pending.set(i, p);
  }
}

function positive(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`computePromptedEmbeddings: ${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Local image–concept similarities P = I·Tᵀ in ONNX Runtime: `I` holds n·g normalised image
 * embeddings (n×g×E), `textEmb` M normalised text embeddings (M×E); both unit vectors, so P is
 * the cosine similarity. Returns n×g×M float32 (row-major: image, prompt, concept).
 */
export async function conceptSimilarities(
  I: Float32Array,
  n: number,
  g: number,
  E: number,
  textEmb: Float32Array,
  M: number,
  engine: Engine = getDefaultEngine(),
): Promise<Float32Array> {
  const rows = n * g;
  if (I.length !== rows * E) throw new Error(`conceptSimilarities: image embeddings hold ${I.length} values, expected ${n}×${g}×${E}`);
  if (textEmb.length !== M * E) throw new Error(`conceptSimilarities: text embeddings hold ${textEmb.length} values, expected ${M}×${E}`);
  const session = await engine.cached(`similarity.gemm-bt:E=${E}`, () => {
    const b = new GraphBuilder('concept_similarities');
    const a = b.input('I', 'float32', ['rows', E]);
    const t = b.input('T', 'float32', ['M', E]);
    b.output(b.op('Gemm', [a, t], { transB: attr.i(1) }, 'P'), 'float32', ['rows', 'M']);
    return b.toBytes();
  });
  const out = new Float32Array(rows * M);
  const T = f32(textEmb, [M, E]);
  // Row chunks keep ONNX Runtime's output buffer bounded for large stores.
  const chunk = Math.max(1, Math.floor((1 << 24) / Math.max(M, 1)));
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r = Math.min(chunk, rows - r0);
    const res = await session.run({ I: f32(I.subarray(r0 * E, (r0 + r) * E), [r, E]), T });
    out.set(dataF32(res.P!, 'similarities'), r0 * M);
  }
  return out;
}

/**
 * Benchmark of the red-circle prompting stage (SPEC step 2): `computePromptedEmbeddings` on ~20
 * images with a 7×7 grid (decode + resize, prompting, normalisation, encoding, float16 shards on
 * disk), against bare `encodeImages` calls on batches of the same sizes, in the same run.
 *
 * Usage: node dist/bench/similarity.js [--images=20] [--grid=7] [--batch=49] [--reps=5]
 *          [--encoder=vit-lite|tiny-clip] [--threads=K|default]
 * Both encoders are `ClipModel`s loaded from a local folder written by test/helpers/tiny-clip.ts
 * (224 px, E = 512), so the real loading and encoding path is timed:
 *   vit-lite (default): the folder's vision tower is replaced by a ViT-like graph of realistic
 *     cost (16×16 patch conv to 384 channels over 196 tokens, one residual MLP block 384→1536→384,
 *     mean pool, projection; ≈0.6 GFLOP per image, still ~30× cheaper than ViT-B/16, so the
 *     overhead measured is an upper bound for a real CLIP on the same hardware).
 *   tiny-clip: the tiny CLIP as written (one strided conv, ≈0.01 GFLOP per image). It is
 *     memory-bound: reading its 0.6 MB input costs about as much as building that input, so no
 *     stage that materialises NCHW batches can stay within 15% of it; shown for reference.
 * --threads: ONNX Runtime intra-op threads of the encoder, 1 by default (steadier timings on a
 * shared machine; `default` lets ONNX Runtime choose).
 * --device=cpu|cuda and --precision=fp32|fp16 choose the encoder's execution provider and weights
 * (scripts/gpu-bench.sh compares the two devices).
 * Each rep times the bare calls and the whole stage back to back; the figure is the median of the
 * per-rep overheads. Before the last line: similarity_stage_prompts_per_s=<prompted images per
 * second through the whole stage>. Last line: similarity_overhead=<(total − encoder)/encoder>.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { loadRgb } from '../src/data/image-io.js';
import type { ResizeSpec } from '../src/data/rgb-image.js';
import type { ImageEncoder } from '../src/models/encoders.js';
import { ClipModel, type ClipPrecision } from '../src/models/clip.js';
import type { Device } from '../src/engine/session.js';
import { computePromptedEmbeddings } from '../src/similarity/compute.js';
import { PromptedBatchBuilder } from '../src/similarity/prompted-batch.js';
import { writeHalfIoModel } from '../test/helpers/half-io.js';
import { tempDir } from '../test/helpers/paths.js';
import { writeTinyClip } from '../test/helpers/tiny-clip.js';
import { fakeVisionGraph, syntheticImage } from '../test/similarity/fake-encoder.js';

function arg(name: string, def: string): string {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
}

const numImages = Number(arg('images', '20'));
const g = Number(arg('grid', '7'));
const batchSize = Number(arg('batch', '49'));
const reps = Number(arg('reps', '5'));
const kind = arg('encoder', 'vit-lite');
const threadsArg = arg('threads', '1');
const threads = threadsArg === 'default' ? undefined : Number(threadsArg);
const device = arg('device', 'cpu') as Device;
const precision = arg('precision', 'fp32') as ClipPrecision;
if (device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${device}`);
if (precision !== 'fp32' && precision !== 'fp16') throw new Error(`--precision must be fp32 or fp16, got ${precision}`);
const S = 224;

async function makeEncoder(root: string): Promise<ClipModel> {
  if (kind !== 'tiny-clip' && kind !== 'vit-lite') throw new Error(`--encoder must be vit-lite or tiny-clip, got ${kind}`);
  const dir = join(root, 'clip');
  await writeTinyClip(dir, { inputSize: S, embedDim: 512 });
  if (kind === 'vit-lite') {
    const graph = fakeVisionGraph({
      inputSize: S,
      embedDim: 512,
      heavy: { width: 384, layers: 1 },
      inputName: 'pixel_values',
      outputName: 'image_embeds',
      normalise: false,
    });
    writeFileSync(join(dir, 'onnx', 'vision_model.onnx'), graph);
  }
  if (precision === 'fp16') {
    // The same towers with float16 inputs and outputs (float32 weights): the fp16 plumbing.
    writeHalfIoModel(join(dir, 'onnx', 'vision_model.onnx'), join(dir, 'onnx', 'vision_model_fp16.onnx'));
    writeHalfIoModel(join(dir, 'onnx', 'text_model.onnx'), join(dir, 'onnx', 'text_model_fp16.onnx'));
  }
  return ClipModel.load(dir, { ...(threads ? { threads } : {}), device, precision });
}

/** Writes `n` JPEGs of assorted sizes (decoded and resized by the stage, as real data is). */
async function writeImages(dir: string, n: number): Promise<string[]> {
  const sizes = [
    [320, 240],
    [500, 375],
    [256, 256],
    [640, 480],
    [300, 400],
  ] as const;
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const [w, h] = sizes[i % sizes.length]!;
    const side = Math.max(w, h);
    const img = syntheticImage(side, i);
    const path = join(dir, `img-${String(i).padStart(3, '0')}.jpg`);
    await sharp(Buffer.from(img.data), { raw: { width: side, height: side, channels: 3 } })
      .extract({ left: 0, top: 0, width: w, height: h })
      .jpeg({ quality: 90 })
      .toFile(path);
    paths.push(path);
  }
  return paths;
}

async function main(): Promise<void> {
  const root = tempDir('salf-bench-sim-');
  try {
    const images = await writeImages(root, numImages);
    const encoder = await makeEncoder(root);
    const spec: ResizeSpec = { size: S, mode: 'center' };
    const loadImage = (p: string) => loadRgb(p, spec, { interpolation: 'bicubic' });
    const G = g * g;
    const shardSize = 64;

    // The batches the stage sends: per shard, its prompts in chunks of batchSize.
    const plan: number[] = [];
    for (let first = 0; first < numImages; first += shardSize) {
      const prompts = Math.min(shardSize, numImages - first) * G;
      for (let s = 0; s < prompts; s += batchSize) plan.push(Math.min(batchSize, prompts - s));
    }
    // Bare encoder input: real prompted pixels, prepared beforehand.
    const builder = new PromptedBatchBuilder({ size: S, grid: [g, g] }, encoder.mean, encoder.std);
    const L = builder.imageLength;
    const pixels = new Float32Array(batchSize * L);
    builder.setBase(await loadImage(images[0]!));
    for (let j = 0; j < batchSize; j++) builder.writePrompt(j % G, pixels, j * L);
    await encoder.encodeImages(pixels.subarray(0, plan[0]! * L), plan[0]!); // warm-up

    // The stage's own encoder calls are timed too (a wrapper), to split its time.
    let insideMs = 0;
    const timed: ImageEncoder = {
      id: encoder.id,
      inputSize: encoder.inputSize,
      mean: encoder.mean,
      std: encoder.std,
      embedDim: encoder.embedDim,
      async encodeImages(px, n) {
        const t = performance.now();
        try {
          return await encoder.encodeImages(px, n);
        } finally {
          insideMs += performance.now() - t;
        }
      },
    };

    const bareOnce = async (): Promise<number> => {
      const t0 = performance.now();
      for (const n of plan) await encoder.encodeImages(n === batchSize ? pixels : pixels.subarray(0, n * L), n);
      return performance.now() - t0;
    };
    const stageOnce = async (r: number): Promise<{ total: number; inside: number }> => {
      const cacheDir = join(root, `cache-${r}`);
      mkdirSync(cacheDir, { recursive: true });
      insideMs = 0;
      const t0 = performance.now();
      const store = await computePromptedEmbeddings({
        encoder: timed,
        images,
        loadImage,
        resize: { ...spec, interpolation: 'bicubic' },
        grid: [g, g],
        cacheDir,
        shardSize,
        batchSize,
      });
      const total = performance.now() - t0;
      if (!store.complete) throw new Error('bench: store incomplete');
      return { total, inside: insideMs };
    };

    // Rep r runs the bare calls and the stage back to back (order alternating), so both see the
    // same machine load; the reported figure is the median of the per-rep overheads.
    const runs: Array<{ bare: number; total: number; inside: number; overhead: number }> = [];
    for (let r = 0; r < reps; r++) {
      let bare: number;
      let st: { total: number; inside: number };
      if (r % 2 === 0) {
        bare = await bareOnce();
        st = await stageOnce(r);
      } else {
        st = await stageOnce(r);
        bare = await bareOnce();
      }
      runs.push({ bare, ...st, overhead: (st.total - bare) / bare });
    }
    runs.sort((a, b) => a.overhead - b.overhead);
    const med = runs[Math.floor(runs.length / 2)]!;

    // Stage parts on their own (not overlapped), for the breakdown.
    let t0 = performance.now();
    const loaded = await Promise.all(images.map(loadImage));
    const loadMs = performance.now() - t0;
    t0 = performance.now();
    for (const img of loaded) {
      builder.setBase(img);
      for (let j = 0; j < G; j++) builder.writePrompt(j, pixels, (j % batchSize) * L);
    }
    const promptMs = performance.now() - t0;

    await encoder.dispose();
    const prompts = numImages * G;
    console.log(
      `encoder: ClipModel, ${kind === 'vit-lite' ? 'ViT-lite vision tower' : 'tiny CLIP'} at ${S}px, E=${encoder.embedDim}${threads ? `, ${threads} threads` : ''}`,
    );
    console.log(`images: ${numImages}, grid ${g}×${g}, ${prompts} prompted images, batches of ${batchSize} (${plan.length} calls), ${reps} reps`);
    console.log(`per-rep overheads: ${runs.map((x) => x.overhead.toFixed(3)).join(' ')}`);
    console.log(
      `median rep: bare encoder ${med.bare.toFixed(0)} ms (${(med.bare / prompts).toFixed(2)} ms/prompt), whole stage ${med.total.toFixed(0)} ms (${(med.total / prompts).toFixed(2)} ms/prompt)`,
    );
    console.log(
      `  stage = encoder calls ${med.inside.toFixed(0)} ms + the rest ${(med.total - med.inside).toFixed(0)} ms (${(((med.total - med.inside) / prompts) * 1000).toFixed(0)} µs/prompt; rest/encoder calls = ${((med.total - med.inside) / med.inside).toFixed(3)})`,
    );
    console.log(
      `  alone: decode+resize ${loadMs.toFixed(0)} ms, prompting+normalising ${promptMs.toFixed(0)} ms (${((promptMs / prompts) * 1000).toFixed(0)} µs/prompt)`,
    );
    console.log(`device: ${device}, precision ${precision}`);
    console.log(`similarity_stage_prompts_per_s=${((prompts / med.total) * 1000).toFixed(1)}`);
    console.log(`similarity_overhead=${med.overhead.toFixed(4)}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();

/**
 * A stand-in CLIP image tower for tests and benchmarks: a fixed random projection of the
 * pixels (optionally after a patch-embedding convolution and a few dense layers, to give it a
 * realistic cost), L2-normalised, run in ONNX Runtime through an Engine like a real encoder.
 * Deterministic for a given seed.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RgbImage } from '../../src/data/rgb-image.js';
import { GraphBuilder, attr } from '../../src/engine/onnx-builder.js';
import { Engine, dataF32, f32 } from '../../src/engine/session.js';
import type { ImageEncoder } from '../../src/models/encoders.js';

export interface FakeEncoderOptions {
  inputSize: number;
  embedDim: number;
  seed?: number;
  /** Waits this long per encodeImages call (a slow encoder for resume tests). */
  delayMs?: number;
  /**
   * Transformer-like cost: a 16×16 stride-16 patch convolution to `width` channels, then
   * `layers` dense blocks (width → 4·width → width, ReLU) over the tokens, mean-pooled. Without
   * it the encoder is a single projection of the raw pixels.
   */
  heavy?: { width: number; layers: number };
  engine?: Engine;
}

/** Options of {@link fakeVisionGraph}. */
export interface FakeVisionGraphOptions {
  inputSize: number;
  embedDim: number;
  seed?: number;
  heavy?: { width: number; layers: number };
  /** Graph input and output names (`pixels`, `embeddings` by default). */
  inputName?: string;
  outputName?: string;
  /** L2-normalise the output (default true). */
  normalise?: boolean;
}

/**
 * The fake encoder's ONNX graph: [n,3,S,S] → [n,E]. Without `heavy`, one random projection of
 * the pixels; with it, a ViT-like stack (16×16 patch conv to `width`, `layers` residual MLP
 * blocks width → 4·width → width, mean over tokens, projection).
 */
export function fakeVisionGraph(o: FakeVisionGraphOptions): Uint8Array {
  const { inputSize: S, embedDim: E, seed = 1, heavy } = o;
  const b = new GraphBuilder('fake_clip_image');
  const x = b.input(o.inputName ?? 'pixels', 'float32', ['n', 3, S, S]);
  let emb: string;
  if (!heavy) {
    const flat = b.op('Flatten', [x], { axis: attr.i(1) });
    emb = b.op('MatMul', [flat, b.constF32(randoms(3 * S * S * E, seed, 1 / Math.sqrt(3 * S * S)), [3 * S * S, E])]);
  } else {
    const D = heavy.width;
    if (S % 16 !== 0) throw new Error('heavy fake encoder needs an input size divisible by 16');
    const conv = b.op('Conv', [x, b.constF32(randoms(D * 3 * 256, seed, 1 / Math.sqrt(768)), [D, 3, 16, 16])], {
      strides: attr.ints([16, 16]),
    });
    // [n, D, T] -> [n, T, D]
    let h = b.op('Transpose', [b.op('Reshape', [conv, b.constI64([0, D, -1])])], { perm: attr.ints([0, 2, 1]) });
    for (let l = 0; l < heavy.layers; l++) {
      const w1 = b.constF32(randoms(D * 4 * D, seed + 100 + l, 1 / Math.sqrt(D)), [D, 4 * D]);
      const w2 = b.constF32(randoms(4 * D * D, seed + 200 + l, 1 / Math.sqrt(4 * D)), [4 * D, D]);
      h = b.op('Add', [h, b.op('MatMul', [b.op('Relu', [b.op('MatMul', [h, w1])]), w2])]);
    }
    const pooled = b.op('ReduceMean', [h], { axes: attr.ints([1]), keepdims: attr.i(0) });
    emb = b.op('MatMul', [pooled, b.constF32(randoms(D * E, seed + 300, 1 / Math.sqrt(D)), [D, E])]);
  }
  const out = o.outputName ?? 'embeddings';
  if (o.normalise ?? true) b.op('LpNormalization', [emb], { axis: attr.i(1), p: attr.i(2) }, out);
  else b.op('Identity', [emb], {}, out);
  b.output(out, 'float32', ['n', E]);
  return b.toBytes();
}

/** Small deterministic PRNG (mulberry32), values in [-1, 1). */
function randoms(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

export class FakeImageEncoder implements ImageEncoder {
  readonly id: string;
  readonly inputSize: number;
  readonly embedDim: number;
  readonly mean = [0.48145466, 0.4578275, 0.40821073] as const;
  readonly std = [0.26862954, 0.26130258, 0.27577711] as const;
  /** Number of encodeImages calls and images seen (for tests). */
  calls = 0;
  imagesSeen = 0;
  private readonly engine: Engine;
  private readonly key: string;
  private readonly build: () => Uint8Array;

  constructor(private readonly options: FakeEncoderOptions) {
    const { inputSize: S, embedDim: E, seed = 1, heavy } = options;
    this.inputSize = S;
    this.embedDim = E;
    this.engine = options.engine ?? new Engine({ threads: 1 });
    this.id = `fake-encoder:S=${S}:E=${E}:seed=${seed}${heavy ? `:heavy=${heavy.width}x${heavy.layers}` : ''}`;
    this.key = this.id;
    this.build = () => fakeVisionGraph({ inputSize: S, embedDim: E, seed, heavy });
  }

  async encodeImages(pixels: Float32Array, n: number): Promise<Float32Array> {
    const S = this.inputSize;
    if (pixels.length !== n * 3 * S * S) throw new Error(`fake encoder: ${pixels.length} values for ${n} images of ${S}px`);
    this.calls++;
    this.imagesSeen += n;
    if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
    const session = await this.engine.cached(this.key, this.build);
    const out = await session.run({ pixels: f32(pixels, [n, 3, S, S]) });
    return dataF32(out.embeddings!, 'embeddings').slice();
  }

  /** Builds the session now (so timing excludes it). */
  async warmUp(): Promise<void> {
    await this.engine.cached(this.key, this.build);
  }

  async dispose(): Promise<void> {
    await this.engine.dispose();
  }
}

/** A deterministic synthetic RGB image (smooth gradients plus a pattern that depends on `seed`). */
export function syntheticImage(size: number, seed: number): { data: Uint8Array; width: number; height: number } {
  const data = new Uint8Array(size * size * 3);
  const noise = randoms(size * size * 3, seed + 17, 1);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3;
      data[o] = (x * 7 + seed * 31 + Math.floor(noise[o]! * 20)) & 255;
      data[o + 1] = (y * 5 + seed * 13 + Math.floor(noise[o + 1]! * 20)) & 255;
      data[o + 2] = ((x ^ y) * 3 + seed * 7) & 255;
    }
  }
  return { data, width: size, height: size };
}

/** Writes `n` synthetic images as raw RGB files (`img-XX.rgb`, size×size×3 bytes); returns their paths. */
export function writeRawImages(dir: string, n: number, size: number, seed0 = 0): string[] {
  return Array.from({ length: n }, (_, i) => {
    const path = join(dir, `img-${String(i).padStart(2, '0')}.rgb`);
    writeFileSync(path, syntheticImage(size, seed0 + i).data);
    return path;
  });
}

/** A loadImage callback for the raw files of {@link writeRawImages}. */
export function rawLoader(size: number): (path: string) => Promise<RgbImage> {
  return async (path) => {
    const data = new Uint8Array(await readFile(path));
    if (data.length !== size * size * 3) throw new Error(`${path}: expected ${size * size * 3} bytes`);
    return { data, width: size, height: size };
  };
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AutoTokenizer, env as hfEnv } from '@huggingface/transformers';
import { ClipModel, clipPreprocessing, resolveClipSource } from '../../src/models/clip.js';
import { Engine, ort, dataF32 } from '../../src/engine/session.js';
import { tempDir } from '../helpers/paths.js';
import { writeTinyClip, TINY_CLIP_MEAN, TINY_CLIP_STD } from '../helpers/tiny-clip.js';

const S = 64;
const E = 16;
let root: string;
let dir: string;
let clip: ClipModel;
const engine = new Engine({ threads: 1 });

before(async () => {
  root = tempDir('salf-clip-');
  dir = join(root, 'tiny-clip');
  await writeTinyClip(dir, { inputSize: S, embedDim: E, seed: 7 });
  clip = await ClipModel.load(dir, { threads: 1 });
});

after(async () => {
  await clip.dispose();
  await engine.dispose();
  await rm(root, { recursive: true, force: true });
});

/** Deterministic pseudo-random pixels in roughly the normalised range. */
function pixels(n: number, seed: number): Float32Array {
  const out = new Float32Array(n * 3 * S * S);
  let a = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = (a / 4294967296) * 4 - 2;
  }
  return out;
}

function rowNorms(x: Float32Array, dim: number): number[] {
  const norms: number[] = [];
  for (let r = 0; r < x.length / dim; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[r * dim + j]! ** 2;
    norms.push(Math.sqrt(s));
  }
  return norms;
}

function normalised(x: Float32Array, dim: number): Float32Array {
  const out = Float32Array.from(x);
  rowNorms(x, dim).forEach((nrm, r) => {
    for (let j = 0; j < dim; j++) out[r * dim + j]! /= nrm;
  });
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('loads the tiny CLIP folder: sizes and normalisation from preprocessor_config, id with a content hash', () => {
  assert.equal(clip.inputSize, S);
  assert.equal(clip.embedDim, E);
  assert.deepEqual([...clip.mean], [...TINY_CLIP_MEAN]);
  assert.deepEqual([...clip.std], [...TINY_CLIP_STD]);
  assert.match(clip.id, /^file:.*tiny-clip#sha256:[0-9a-f]{16}$/);
  assert.equal(clip.device, 'cpu');
});

test('encodeImages: n×E unit rows, deterministic, equal to running vision_model.onnx directly', async () => {
  const n = 3;
  const px = pixels(n, 11);
  const a = await clip.encodeImages(px, n);
  assert.equal(a.length, n * E);
  for (const nrm of rowNorms(a, E)) assert.ok(Math.abs(nrm - 1) < 1e-5, `row norm ${nrm}`);
  const b = await clip.encodeImages(px, n);
  assert.deepEqual(Array.from(b), Array.from(a), 'same input, same output');

  const s = await engine.open(join(dir, 'onnx', 'vision_model.onnx'));
  const out = await s.run({ pixel_values: new ort.Tensor('float32', px, [n, 3, S, S]) });
  assert.ok(maxAbsDiff(a, normalised(dataF32(out.image_embeds!), E)) < 1e-5);
  // Different images give different embeddings.
  assert.ok(maxAbsDiff(a.subarray(0, E), a.subarray(E, 2 * E)) > 1e-3);
});

test('encodeImages reads a subarray view at an offset; image and text batching give the same results', async () => {
  const n = 5;
  const per = 3 * S * S;
  const px = pixels(n, 23);
  const whole = await clip.encodeImages(px, n);

  const big = new Float32Array((n + 2) * per);
  big.set(px, 2 * per);
  const viaView = await clip.encodeImages(big.subarray(2 * per), n);
  assert.ok(maxAbsDiff(whole, viaView) < 1e-6, 'subarray with byteOffset');

  const small = await ClipModel.load(dir, { imageBatch: 2, textBatch: 2, threads: 1 });
  try {
    assert.equal(small.id, clip.id, 'same files, same id');
    assert.ok(maxAbsDiff(whole, await small.encodeImages(px, n)) < 1e-5, 'chunks of 2 + 2 + 1');
    const texts = ['red bird', 'a photo of a blue car with wheels', 'cat'];
    assert.ok(maxAbsDiff(await clip.encodeTexts(texts), await small.encodeTexts(texts)) < 1e-5, 'text chunks of 2 + 1');
  } finally {
    await small.dispose();
  }
  assert.equal((await clip.encodeImages(px, 0)).length, 0);
});

test('encodeImages rejects too few pixel values with a clear message', async () => {
  await assert.rejects(clip.encodeImages(new Float32Array(10), 1), /10 values for 1 images of 3×64×64/);
});

test('encodeTexts: unit rows, equal to text_model.onnx on the transformers.js tokenisation, concepts differ', async () => {
  const texts = ['red bird', 'blue car with wheels', 'a photo of a striped cat'];
  const emb = await clip.encodeTexts(texts);
  assert.equal(emb.length, texts.length * E);
  for (const nrm of rowNorms(emb, E)) assert.ok(Math.abs(nrm - 1) < 1e-5);
  assert.deepEqual(Array.from(await clip.encodeTexts(texts)), Array.from(emb), 'deterministic');

  const tok = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  const enc = tok(texts, { padding: true, truncation: true });
  const s = await engine.open(join(dir, 'onnx', 'text_model.onnx'));
  const out = await s.run({
    input_ids: new ort.Tensor('int64', enc.input_ids.data as BigInt64Array, enc.input_ids.dims),
    attention_mask: new ort.Tensor('int64', enc.attention_mask.data as BigInt64Array, enc.attention_mask.dims),
  });
  assert.ok(maxAbsDiff(emb, normalised(dataF32(out.text_embeds!), E)) < 1e-5);

  // Two different concepts: different token ids, different embeddings.
  assert.notDeepEqual(clip.tokenize('red bird'), clip.tokenize('blue bird'));
  const [r, b] = [emb.subarray(0, E), await clip.encodeTexts(['blue bird'])];
  let cos = 0;
  for (let j = 0; j < E; j++) cos += r[j]! * b[j]!;
  assert.ok(cos < 0.999, `cosine ${cos}`);
});

test('encodeTexts: padding in a batch does not change a text embedding; start/end tokens are added', async () => {
  const alone = await clip.encodeTexts(['red bird']);
  const inBatch = await clip.encodeTexts(['a photo of a large orange fish in the water', 'red bird']);
  assert.ok(maxAbsDiff(alone, inBatch.subarray(E, 2 * E)) < 1e-5);
  const ids = clip.tokenize('red bird');
  assert.equal(ids.length, 4, `ids ${ids}`); // <|startoftext|> red</w> bird</w> <|endoftext|>
  assert.ok(ids[0]! < ids[3]!, 'end token has the largest id, as in CLIP');
  // Any text tokenises (byte-level alphabet), and very long texts are truncated to 77 tokens.
  assert.equal(clip.tokenize('x'.repeat(200).split('').join(' ')).length, 77);
  assert.equal((await clip.encodeTexts(['café ☕'])).length, E);
});

test('the id follows the bytes: rewriting the same weights keeps it, other weights change it', async () => {
  const other = join(root, 'other');
  await writeTinyClip(other, { inputSize: S, embedDim: E, seed: 7 });
  const same = await ClipModel.load(other);
  await writeTinyClip(other, { inputSize: S, embedDim: E, seed: 8 });
  const changed = await ClipModel.load(other);
  try {
    assert.equal(same.id.split('#')[1], clip.id.split('#')[1], 'identical bytes hash identically');
    assert.notEqual(changed.id, same.id);
  } finally {
    await Promise.all([same.dispose(), changed.dispose()]);
  }
});

test('a local folder loads without any network call', async () => {
  const fresh = join(root, 'no-network');
  await writeTinyClip(fresh, { inputSize: S, embedDim: E, seed: 7 });
  const calls: string[] = [];
  const blocked = (async (url: string | URL) => {
    calls.push(String(url));
    throw new Error('network is blocked in this test');
  }) as typeof fetch;
  const [savedHf, savedGlobal] = [hfEnv.fetch, globalThis.fetch];
  hfEnv.fetch = blocked;
  globalThis.fetch = blocked;
  try {
    const m = await ClipModel.load(fresh);
    await m.encodeTexts(['red bird']);
    await m.dispose();
  } finally {
    hfEnv.fetch = savedHf;
    globalThis.fetch = savedGlobal;
  }
  assert.deepEqual(calls, []);
});

test('clear errors: missing folder, folder without onnx files, wrong ONNX inputs, a file instead of a folder', async () => {
  const missing = join(root, 'nope');
  await assert.rejects(ClipModel.load(missing), (e: Error) => e.message.includes(missing) && /does not exist/.test(e.message));

  const noOnnx = join(root, 'no-onnx');
  await mkdir(noOnnx);
  for (const f of ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
    await copyFile(join(dir, f), join(noOnnx, f));
  }
  await assert.rejects(
    ClipModel.load(noOnnx),
    (e: Error) => e.message.includes(noOnnx) && /missing onnx\/vision_model\.onnx, onnx\/text_model\.onnx/.test(e.message),
  );

  const swapped = join(root, 'swapped');
  await writeTinyClip(swapped, { inputSize: S, embedDim: E });
  await copyFile(join(swapped, 'onnx', 'vision_model.onnx'), join(swapped, 'onnx', 'text_model.onnx'));
  await assert.rejects(ClipModel.load(swapped), /text_model\.onnx must take input_ids.*it takes pixel_values/);

  const file = join(root, 'file.txt');
  await writeFile(file, 'x');
  await assert.rejects(ClipModel.load(file), /is a file/);
});

test('a hub id fails fast offline, saying the hub is unreachable and suggesting a local folder', async () => {
  const cacheDir = join(root, 'empty-cache');
  const t0 = Date.now();
  // A closed local port stands in for an unreachable hub, whatever this machine's network.
  await assert.rejects(
    ClipModel.load('openai/clip-vit-base-patch16', { cacheDir, hubEndpoint: 'http://127.0.0.1:9', hubTimeoutMs: 2000 }),
    (e: Error) => /unreachable/.test(e.message) && /local folder/.test(e.message) && e.message.includes('openai/clip-vit-base-patch16'),
  );
  const saved = process.env.HF_HUB_OFFLINE;
  process.env.HF_HUB_OFFLINE = '1';
  try {
    await assert.rejects(ClipModel.load('openai/clip-vit-base-patch16', { cacheDir }), /HF_HUB_OFFLINE.*not in the cache.*local folder/s);
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_OFFLINE;
    else process.env.HF_HUB_OFFLINE = saved;
  }
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});

test('a hub id already in the cache loads offline from it', async () => {
  const cacheDir = join(root, 'cache');
  const cachedCopy = join(cacheDir, 'someone', 'tiny-clip');
  await writeTinyClip(cachedCopy, { inputSize: S, embedDim: E, seed: 7 });
  const saved = process.env.HF_HUB_OFFLINE;
  process.env.HF_HUB_OFFLINE = '1';
  try {
    const hub = await ClipModel.load('someone/tiny-clip', { cacheDir });
    try {
      assert.match(hub.id, /^hf:someone\/tiny-clip@main#sha256:[0-9a-f]{16}$/);
      assert.equal(hub.id.split('#')[1], clip.id.split('#')[1]);
      const px = pixels(2, 5);
      assert.ok(maxAbsDiff(await hub.encodeImages(px, 2), await clip.encodeImages(px, 2)) < 1e-6);
    } finally {
      await hub.dispose();
    }
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_OFFLINE;
    else process.env.HF_HUB_OFFLINE = saved;
  }
});

test('device cuda selects the CUDA provider: same embeddings where CUDA is installed, a clear error elsewhere', async () => {
  const px = pixels(2, 3);
  let gpu: ClipModel;
  try {
    gpu = await ClipModel.load(dir, { device: 'cuda' });
  } catch (e) {
    assert.match((e as Error).message, /device cuda: is onnxruntime-node installed with CUDA/);
    assert.ok((e as Error).message.includes(dir));
    return;
  }
  try {
    assert.equal(gpu.device, 'cuda');
    assert.ok(maxAbsDiff(await gpu.encodeImages(px, 2), await clip.encodeImages(px, 2)) < 1e-4);
  } finally {
    await gpu.dispose();
  }
});

test('resolveClipSource tells folders from hub ids', () => {
  assert.deepEqual(resolveClipSource('openai/clip-vit-base-patch16'), { kind: 'hub', modelId: 'openai/clip-vit-base-patch16' });
  assert.deepEqual(resolveClipSource('clip-base'), { kind: 'hub', modelId: 'clip-base' });
  assert.equal(resolveClipSource(dir).kind, 'folder');
  assert.equal(resolveClipSource('./models/clip').kind, 'folder');
  assert.equal(resolveClipSource('/abs/models/clip').kind, 'folder');
  assert.equal(resolveClipSource('a/b/c').kind, 'folder');
  assert.throws(() => resolveClipSource('  '), /empty/);
});

test('clipPreprocessing: crop size, rescale factor folded into mean/std, non-square rejected', () => {
  assert.deepEqual(clipPreprocessing({ crop_size: 224, size: 256, image_mean: [0.5, 0.5, 0.5], image_std: [0.25, 0.25, 0.25] }), {
    inputSize: 224,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
  });
  // No rescaling: the model sees (255x − m)/s, i.e. (x − m/255)/(s/255).
  const raw = clipPreprocessing({ crop_size: { height: 32, width: 32 }, do_rescale: false, image_mean: [127.5, 127.5, 127.5], image_std: 51 });
  assert.deepEqual(raw.mean, [0.5, 0.5, 0.5]);
  assert.deepEqual(raw.std, [0.2, 0.2, 0.2]);
  assert.deepEqual(clipPreprocessing({ size: { shortest_edge: 96 }, do_center_crop: false, do_normalize: false }), {
    inputSize: 96,
    mean: [0, 0, 0],
    std: [1, 1, 1],
  });
  assert.throws(() => clipPreprocessing({ crop_size: { height: 224, width: 160 } }, 'x.json'), /x\.json.*only square/);
  assert.throws(() => clipPreprocessing({ image_mean: [1, 2], crop_size: 8 }), /image_mean/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/paths.js';
import { toChwNormalised } from '../../src/data/image-io.js';
import { Engine } from '../../src/engine/session.js';
import { PromptedBatchBuilder } from '../../src/similarity/prompted-batch.js';
import { drawCircle, gridPrompts } from '../../src/similarity/prompting.js';
import { EmbeddingStore, type OpenStoreOptions } from '../../src/similarity/embedding-store.js';
import { computePromptedEmbeddings, conceptSimilarities, promptedStoreOptions } from '../../src/similarity/compute.js';
import { fromFloat16Bits, toFloat16Bits } from '../../src/store/float16.js';
import { FakeImageEncoder, rawLoader, syntheticImage, writeRawImages } from './fake-encoder.js';

const S = 32;
const mean = [0.48145466, 0.4578275, 0.40821073] as const;
const std = [0.26862954, 0.26130258, 0.27577711] as const;

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

test('prompted batch equals drawing each circle on a copy and normalising it', () => {
  const base = syntheticImage(S, 3);
  for (const [grid, radius, placement] of [
    [[3, 4], 5, 'inside'],
    [[2, 2], 9, 'stride'],
  ] as const) {
    const builder = new PromptedBatchBuilder({ size: S, grid, radius, placement }, mean, std);
    assert.equal(builder.count, grid[0] * grid[1]);
    const batch = builder.buildAll(base);
    const L = 3 * S * S;
    const plain = toChwNormalised(base, mean, std);
    gridPrompts(S, grid, radius, placement).forEach((p, g) => {
      const copy = { data: base.data.slice(), width: S, height: S };
      drawCircle(copy, p.cx, p.cy, radius);
      const naive = toChwNormalised(copy, mean, std);
      const got = batch.subarray(g * L, (g + 1) * L);
      assert.ok(sameBits(got, naive), `prompt ${g} differs from the naive image`);
      assert.ok(!sameBits(got, plain), `prompt ${g} has no circle`);
    });
    // The builder's base is untouched by the prompts: building again gives the same batch.
    assert.ok(sameBits(builder.buildAll(base), batch));
  }
  const builder = new PromptedBatchBuilder({ size: S, grid: [2, 2] }, mean, std);
  assert.throws(() => builder.setBase(syntheticImage(16, 0), 'small.png'), /small\.png: image is 16×16, the encoder expects 32×32/);
});

test('float16 round trip is within half-precision rounding', () => {
  const v = Float32Array.from([0, 1, -1, 0.1, -0.333, 1e-5, 65504, 0.99951171875]);
  const back = fromFloat16Bits(toFloat16Bits(v));
  for (let i = 0; i < v.length; i++) assert.ok(Math.abs(back[i]! - v[i]!) <= Math.abs(v[i]!) * 2 ** -11 + 6e-8, `${v[i]} -> ${back[i]}`);
  assert.equal(back[1], 1);
  assert.equal(back[7], 0.99951171875);
});

test('conceptSimilarities is I·Tᵀ computed in ONNX Runtime', async () => {
  const n = 3,
    g = 4,
    E = 8,
    M = 5;
  const I = Float32Array.from({ length: n * g * E }, (_, i) => Math.sin(i * 0.37));
  const T = Float32Array.from({ length: M * E }, (_, i) => Math.cos(i * 0.11));
  const engine = new Engine({ threads: 1 });
  const P = await conceptSimilarities(I, n, g, E, T, M, engine);
  assert.equal(P.length, n * g * M);
  for (let r = 0; r < n * g; r++) {
    for (let m = 0; m < M; m++) {
      let s = 0;
      for (let e = 0; e < E; e++) s += I[r * E + e]! * T[m * E + e]!;
      assert.ok(Math.abs(P[r * M + m]! - s) < 1e-5);
    }
  }
  await assert.rejects(conceptSimilarities(I, n, g, E, T, M + 1, engine), /text embeddings hold 40 values, expected 6×8/);
  await engine.dispose();
});

test('computed store round-trips the embeddings (float16) and is reused on a second run', async () => {
  const dir = tempDir();
  const images = writeRawImages(dir, 5, S);
  const encoder = new FakeImageEncoder({ inputSize: S, embedDim: 16, seed: 7 });
  const progress: Array<[number, number]> = [];
  const options = {
    encoder,
    images,
    loadImage: rawLoader(S),
    resize: { size: S, mode: 'center' as const },
    grid: [2, 3] as const,
    radius: 6,
    cacheDir: join(dir, 'cache'),
    shardSize: 2,
    batchSize: 4,
    onProgress: (done: number, total: number) => progress.push([done, total]),
  };
  const store = await computePromptedEmbeddings(options);
  assert.equal(store.numShards, 3);
  assert.ok(store.complete);
  assert.deepEqual(progress[0], [0, 5]);
  assert.deepEqual(progress[progress.length - 1], [5, 5]);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] >= progress[i - 1]![0]);

  const all = store.readAll();
  assert.equal(all.length, 5 * 6 * 16);
  // Reference: encode each image's 6 prompts in one call.
  const builder = new PromptedBatchBuilder({ size: S, grid: [2, 3], radius: 6 }, encoder.mean, encoder.std);
  for (let n = 0; n < 5; n++) {
    const img = await rawLoader(S)(images[n]!);
    const want = await encoder.encodeImages(builder.buildAll(img), 6);
    for (let k = 0; k < want.length; k++) {
      const got = all[n * 96 + k]!;
      assert.ok(Math.abs(got - want[k]!) <= 1e-3, `image ${n} value ${k}: ${got} vs ${want[k]}`);
    }
  }
  // Shards read one by one give the same values.
  const parts = [...store.shards()];
  assert.deepEqual(
    parts.map((p) => [p.index, p.first, p.count]),
    [
      [0, 0, 2],
      [1, 2, 2],
      [2, 4, 1],
    ],
  );
  assert.ok(sameBits(Float32Array.from(parts.flatMap((p) => Array.from(p.data))), all));
  assert.equal(store.imagePaths().length, 5);
  assert.equal(EmbeddingStore.openExisting(store.dir).readAll().length, all.length);

  // Second run: same folder, nothing encoded again.
  const calls = encoder.calls;
  const again = await computePromptedEmbeddings(options);
  assert.equal(again.dir, store.dir);
  assert.equal(encoder.calls, calls);
  assert.ok(sameBits(again.readAll(), all));
  await encoder.dispose();
});

test('the cache folder changes with every input that determines the embeddings', async () => {
  const dir = tempDir();
  const images = writeRawImages(dir, 4, S);
  const base: OpenStoreOptions = {
    cacheDir: join(dir, 'cache'),
    images,
    encoderId: 'enc-a',
    inputSize: S,
    resize: { size: S, mode: 'center' },
    mean: [...mean],
    std: [...std],
    grid: [2, 2],
    radius: 6,
    placement: 'inside',
    thickness: 2,
    color: [255, 0, 0],
    embedDim: 16,
    shardSize: 2,
  };
  const dirOf = async (o: Partial<OpenStoreOptions>): Promise<string> => (await EmbeddingStore.open({ ...base, ...o })).dir;
  const ref = await dirOf({});
  assert.equal(await dirOf({}), ref, 'same inputs, same folder');
  assert.equal(await dirOf({ images: images.map((p) => p.replace(dir, join(dir, '.'))) }), ref, 'paths are resolved');
  const variants: Array<[string, Partial<OpenStoreOptions>]> = [
    ['image order', { images: [images[1]!, images[0]!, images[2]!, images[3]!] }],
    ['image dropped', { images: images.slice(0, 3) }],
    ['encoder id', { encoderId: 'enc-b' }],
    ['grid', { grid: [3, 3] }],
    ['radius', { radius: 7 }],
    ['placement', { placement: 'stride' }],
    ['input size', { inputSize: 48 }],
    ['resize mode', { resize: { size: S, mode: 'stretch' } }],
    ['embed dim', { embedDim: 32 }],
    ['pixel mean', { mean: [0.5, 0.5, 0.5] }],
    ['thickness', { thickness: 3 }],
  ];
  const seen = new Set([ref]);
  for (const [what, v] of variants) {
    const d = await dirOf(v);
    assert.ok(!seen.has(d), `changing ${what} must change the folder`);
    seen.add(d);
  }
  // Touching an image (new mtime) or rewriting it with another size changes the key too.
  utimesSync(images[2]!, new Date(), new Date(Date.now() + 5000));
  const touched = await dirOf({});
  assert.ok(!seen.has(touched), 'a newer mtime must change the folder');
  writeFileSync(images[3]!, new Uint8Array(10));
  assert.notEqual(await dirOf({}), touched, 'a different file size must change the folder');
  // Content fingerprints: same bytes, same key, whatever the mtime.
  const c1 = await dirOf({ fingerprint: 'content' });
  utimesSync(images[0]!, new Date(), new Date(Date.now() + 9000));
  assert.equal(await dirOf({ fingerprint: 'content' }), c1);
  await assert.rejects(dirOf({ images: [join(dir, 'missing.rgb')] }), /missing\.rgb: cannot read image file \(ENOENT\)/);
});

test('damaged shards and leftover temporary files are never read', async () => {
  const dir = tempDir();
  const images = writeRawImages(dir, 4, S);
  const encoder = new FakeImageEncoder({ inputSize: S, embedDim: 8, seed: 3 });
  const options = {
    encoder,
    images,
    loadImage: rawLoader(S),
    resize: 'raw',
    grid: [2, 2] as const,
    radius: 6,
    cacheDir: join(dir, 'cache'),
    shardSize: 2,
    batchSize: 3,
  };
  const store = await computePromptedEmbeddings(options);
  const reference = store.readAll();
  // Damage shard 1 (cut short), flip a byte of shard 0 (same size: only the checksum sees it) and
  // leave a stray temporary file (of a dead writer: old) next to them.
  const shard1 = store.shardPath(1);
  truncateSync(shard1, statSync(shard1).size - 2);
  const shard0 = readFileSync(store.shardPath(0));
  shard0[shard0.length - 1]! ^= 0x40;
  writeFileSync(store.shardPath(0), shard0);
  const stray = `${store.shardPath(0)}.tmp-999-1`;
  writeFileSync(stray, new Uint8Array(5));
  utimesSync(stray, new Date(0), new Date(0));
  assert.throws(() => store.readShard(1), /shard-000001\.rows: corrupt shard \(holds \d+ bytes, expected \d+\)/);
  assert.throws(() => store.readShard(0), /shard-000000\.rows: corrupt shard \(checksum mismatch\)/);
  const reopened = await EmbeddingStore.open(promptedStoreOptions(options));
  assert.equal(reopened.dir, store.dir);
  assert.deepEqual(reopened.missingShards(), [1], 'a short shard counts as missing');
  assert.ok(!readdirSync(store.dir).some((f) => f.includes('.tmp-')), 'temporary files of dead writers are removed');
  assert.throws(() => reopened.readAll(), /1 of 2 shards are missing/);
  assert.deepEqual(
    reopened.rows.verify().map((b) => b.shard),
    [0],
    'verify removes the corrupt shard',
  );
  assert.deepEqual(reopened.missingShards(), [0, 1]);
  const calls = encoder.imagesSeen;
  const fixed = await computePromptedEmbeddings(options);
  assert.equal(encoder.imagesSeen - calls, 2 * 2 * 4, 'only the damaged shards are recomputed');
  assert.ok(sameBits(fixed.readAll(), reference));
  await encoder.dispose();
});

test('errors name the image that failed to load', async () => {
  const dir = tempDir();
  const images = writeRawImages(dir, 3, S);
  writeFileSync(images[1]!, new Uint8Array(7));
  const encoder = new FakeImageEncoder({ inputSize: S, embedDim: 8 });
  await assert.rejects(
    computePromptedEmbeddings({ encoder, images, loadImage: rawLoader(S), resize: 'raw', grid: [2, 2], cacheDir: join(dir, 'c'), shardSize: 2 }),
    /img-01\.rgb: expected 3072 bytes/,
  );
  await encoder.dispose();
});

test('skipBad stores an unreadable image as a zero row listed as skipped; a worker computes only its block of shards', async () => {
  const dir = tempDir();
  const images = writeRawImages(dir, 5, S);
  writeFileSync(images[3]!, new Uint8Array(7));
  const encoder = new FakeImageEncoder({ inputSize: S, embedDim: 8 });
  const options = {
    encoder,
    images,
    loadImage: rawLoader(S),
    resize: 'raw',
    grid: [2, 2] as const,
    cacheDir: join(dir, 'c'),
    shardSize: 2,
    batchSize: 3,
    skipBad: true,
  };
  const part = await computePromptedEmbeddings({ ...options, worker: { index: 1, count: 2, source: 'test' } });
  assert.deepEqual(part.missingShards(), [0], 'worker 1 of 2 computes shards 1 and 2 of 3');
  assert.equal(encoder.imagesSeen, 3 * 4);
  const whole = await computePromptedEmbeddings(options);
  assert.ok(whole.complete);
  assert.equal(encoder.imagesSeen, 5 * 4);
  assert.deepEqual(
    whole.skipped().map((x) => [x.row, x.path]),
    [[3, images[3]]],
  );
  assert.match(whole.skipped()[0]!.reason, /expected 3072 bytes/);
  const rows = whole.readRows([2, 3]);
  assert.ok(rows.subarray(0, 4 * 8).some((v) => v !== 0));
  assert.ok(
    rows.subarray(4 * 8).every((v) => v === 0),
    'the skipped image is a zero row',
  );
  await encoder.dispose();
});

test('an encoder failure rejects the computation and keeps the shards stored before it', async () => {
  const dir = tempDir();
  const images = writeRawImages(dir, 4, S);
  const inner = new FakeImageEncoder({ inputSize: S, embedDim: 8 });
  let calls = 0;
  const failing = {
    id: inner.id,
    inputSize: inner.inputSize,
    mean: inner.mean,
    std: inner.std,
    embedDim: inner.embedDim,
    encodeImages: async (px: Float32Array, n: number) => {
      if (++calls === 3) throw new Error('device lost');
      return inner.encodeImages(px, n);
    },
  };
  const options = { images, loadImage: rawLoader(S), resize: 'raw', grid: [2, 2] as const, cacheDir: join(dir, 'c'), shardSize: 2, batchSize: 4 };
  await assert.rejects(computePromptedEmbeddings({ ...options, encoder: failing }), /device lost/);
  const store = await computePromptedEmbeddings({ ...options, encoder: inner });
  assert.equal(inner.imagesSeen, 2 * 4 + 2 * 4, 'shard 0 was kept; shard 1 was computed once more');
  assert.ok(store.complete);
  await inner.dispose();
});

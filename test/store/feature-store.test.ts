/**
 * The feature store: backbone features and logits shard by shard in a row store, undecodable
 * images as skipped zero rows, worker blocks, resume after a lost or damaged shard, and a full
 * disk that names the file and leaves no shard that looks complete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/engine/session.js';
import { Backbone, type BackboneConfig } from '../../src/models/backbone.js';
import { extractFeatures } from '../../src/models/extract-features.js';
import { computeFeatureStore, FeatureStore } from '../../src/models/feature-store.js';
import { fromFloat16Bits, toFloat16Bits } from '../../src/store/float16.js';
import { writeColourDataset } from '../helpers/colour-dataset.js';
import { tempDir } from '../helpers/paths.js';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';

async function setup() {
  const root = tempDir('salf-fstore-');
  await writeColourDataset(join(root, 'data'), 4);
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 3 });
  const config: BackboneConfig = {
    model: cnn.path,
    featureTensor: cnn.featureTensor,
    logitsTensor: cnn.logitsTensor,
    layout: 'nchw',
    preprocess: { resize: { size: 64, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  };
  const engine = new Engine();
  const backbone = await Backbone.load(config, [2, 2], engine);
  const samples = ['bluish', 'reddish'].flatMap((c) => [0, 1, 2, 3].map((i) => ({ path: join(root, 'data', c, `${i}.png`) })));
  return { root, backbone, samples, engine };
}

test('feature store: float16 rows equal the in-memory features rounded; skipped images are zero rows; logits float32', async () => {
  const { root, backbone, samples, engine } = await setup();
  writeFileSync(samples[5]!.path, 'not a png');
  const memory = await extractFeatures(backbone, samples, { skipBad: true, batchSize: 3 });
  const fs = await computeFeatureStore(backbone, samples, { cacheDir: join(root, 'cache'), skipBad: true, batchSize: 3, shardSize: 3 });
  assert.equal(fs.store.numShards, 3);
  assert.deepEqual(
    fs.store.fields.map((f) => [f.name, f.dtype]),
    [
      ['F', 'float16'],
      ['logits', 'float32'],
    ],
  );
  assert.deepEqual(fs.kept(), [0, 1, 2, 3, 4, 6, 7]);
  assert.deepEqual(
    fs.skipped().map((s) => [s.row, s.path]),
    [[5, samples[5]!.path]],
  );
  const set = fs.featureSet();
  assert.deepEqual(set.samples, memory.samples);
  assert.deepEqual(
    set.skipped.map((s) => s.path),
    memory.skipped.map((s) => s.path),
  );
  assert.deepEqual(Array.from(set.F), Array.from(fromFloat16Bits(toFloat16Bits(memory.F))), 'features: the in-memory values rounded to float16');
  assert.deepEqual(Array.from(set.logits!), Array.from(memory.logits!), 'logits are float32, exact');
  assert.ok(
    fs.readFeatures([5]).every((v) => v === 0),
    'a skipped image is a zero row',
  );

  const f32 = await extractFeatures(backbone, samples, { cacheDir: join(root, 'cache'), skipBad: true, batchSize: 3, dtype: 'float32' });
  assert.deepEqual(Array.from(f32.F), Array.from(memory.F), 'float32 store: exact');
  await engine.dispose();
});

test('feature store: a worker computes its block; lost, damaged and failed shards are redone; a full disk names the file', async () => {
  const { root, backbone, samples, engine } = await setup();
  const cacheDir = join(root, 'cache');
  const opts = { cacheDir, batchSize: 2, shardSize: 2 };
  const reference = await computeFeatureStore(backbone, samples, { ...opts, cacheDir: join(root, 'reference') });
  const refBytes = Array.from({ length: 4 }, (_, s) => readFileSync(reference.store.shardPath(s)));

  const w1 = await computeFeatureStore(backbone, samples, { ...opts, worker: { index: 1, count: 2, source: 'test' } });
  assert.deepEqual(w1.missingShards(), [0, 1], 'worker 1 of 2 computes shards 2 and 3 of 4');
  assert.throws(() => w1.kept(), /2 of 4 feature shards are missing \(shards 0, 1\)/);

  // A full disk while writing shard 1: the error names the shard file, no temporary file is left
  // and shard 1 does not count as stored; shard 0, written before, is kept.
  const full = (shard: number): void => {
    if (shard === 1) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  };
  await assert.rejects(computeFeatureStore(backbone, samples, { ...opts, beforeShardCommit: full }), /shard-000001\.rows: cannot write the shard \(ENOSPC\)/);
  assert.deepEqual(w1.missingShards(), [1]);
  assert.ok(!readdirSync(w1.dir).some((f) => f.includes('.tmp-')), 'no temporary file is left');

  // A half-written shard (cut short) counts as missing and is redone, as is a deleted one.
  const s2 = w1.store.shardPath(2);
  truncateSync(s2, statSync(s2).size - 10);
  assert.deepEqual(w1.missingShards(), [1, 2]);
  const logs: string[] = [];
  const done = await computeFeatureStore(backbone, samples, { ...opts, progress: { start() {}, update() {}, stop() {}, log: (m) => logs.push(m) } });
  assert.ok(done.complete);
  for (let s = 0; s < 4; s++)
    assert.equal(Buffer.compare(readFileSync(done.store.shardPath(s)), refBytes[s]!), 0, `shard ${s} bytes equal the one-process store`);
  assert.equal(logs.length, 0);
  await computeFeatureStore(backbone, samples, { ...opts, progress: { start() {}, update() {}, stop() {}, log: (m) => logs.push(m) } });
  assert.deepEqual(logs, ['backbone features: reusing 8 cached feature maps']);
  assert.equal(FeatureStore.open(backbone, samples, cacheDir, { shardSize: 2 }).dir, done.dir);
  assert.notEqual(FeatureStore.open(backbone, samples.slice(1), cacheDir, { shardSize: 2 }).dir, done.dir, 'another image list, another store');
  await engine.dispose();
});

/**
 * End-to-end training on tiny random-weight models (plumbing, not explanations): the model is
 * saved, reloads to the same outputs, a rerun reuses its caches, and bad input fails early with
 * a clear message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import type { BackboneConfig } from '../../src/models/backbone.js';
import { trainSalfCbm, type TrainSalfCbmOptions } from '../../src/training/train-salf-cbm.js';
import type { Progress } from '../../src/progress.js';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';
import { writeTinyClip } from '../helpers/tiny-clip.js';
import { writeColourDataset } from '../helpers/colour-dataset.js';
import { tempDir } from '../helpers/paths.js';

const CONCEPTS = ['red', 'blue', 'green', 'striped', 'round', 'sky'];

async function setup() {
  const root = tempDir('salf-train-');
  await writeColourDataset(join(root, 'data'), 8);
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 2 });
  await writeTinyClip(join(root, 'clip'), { inputSize: 64 });
  const backbone: BackboneConfig = {
    model: cnn.path,
    featureTensor: cnn.featureTensor,
    layout: 'nchw',
    preprocess: { resize: { size: 64, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  };
  const options: TrainSalfCbmOptions = {
    data: join(root, 'data'),
    valFraction: 0.25,
    backbone,
    clip: join(root, 'clip'),
    concepts: CONCEPTS,
    out: join(root, 'model'),
    grid: [3, 3],
    cbl: { maxSteps: 20, valEvery: 5, cutoff: -1 },
    finalLayer: { mode: 'sparse', lam: 1e-3, epochsPerLambda: 50 },
  };
  return { root, options };
}

function recorder(): Progress & { stages: string[]; logs: string[] } {
  const stages: string[] = [];
  const logs: string[] = [];
  return { stages, logs, start: (s) => stages.push(s), update() {}, stop() {}, log: (m) => logs.push(m) };
}

test('trains, saves, reloads to identical outputs, and a rerun reuses the caches', async () => {
  const { root, options } = await setup();
  const first = recorder();
  const { model, metrics } = await trainSalfCbm({ ...options, progress: first });
  assert.deepEqual(first.stages.slice(0, 3), ['features (train)', 'features (val)', 'prompted embeddings']);
  assert.equal(metrics.numTrain, 12);
  assert.equal(metrics.numVal, 4);
  assert.equal(metrics.concepts.kept, CONCEPTS.length);
  assert.ok(metrics.finalLayer.nnz <= CONCEPTS.length * 2);
  const saved = JSON.parse(readFileSync(join(options.out, 'metrics.json'), 'utf8'));
  assert.equal(saved.numTrain, 12);

  const loaded = SalfCbm.load(options.out);
  assert.deepEqual(loaded.classes, ['bluish', 'reddish']);
  const img = join(options.data, 'reddish', '0.png');
  const [a, b] = [await model.forwardImages([img]), await loaded.forwardImages([img])];
  assert.deepEqual(Array.from(a.logits), Array.from(b.logits));
  assert.equal(b.conceptMaps.length, CONCEPTS.length * 9);

  const second = recorder();
  await trainSalfCbm({ ...options, out: join(root, 'model2'), cacheDir: join(options.out, 'cache'), progress: second });
  assert.ok(
    second.logs.some((l) => /reusing 12 cached feature maps/.test(l)),
    second.logs.join('\n'),
  );
  const again = SalfCbm.load(join(root, 'model2'));
  assert.deepEqual(Array.from(again.weights.conceptWeight), Array.from(loaded.weights.conceptWeight), 'same seed, same caches: same model');
});

test('bad input fails before any long work, naming the problem', async () => {
  const { root, options } = await setup();
  await assert.rejects(trainSalfCbm({ ...options, concepts: [] }), /concept list is empty/);
  await assert.rejects(trainSalfCbm({ ...options, backbone: { ...options.backbone, featureTensor: 'no_such_tensor' } }), /no tensor named "no_such_tensor"/);
  const notOnnx = join(root, 'not-a-model.onnx');
  writeFileSync(notOnnx, 'this is text');
  await assert.rejects(trainSalfCbm({ ...options, backbone: { ...options.backbone, model: notOnnx } }), /not-a-model\.onnx/);
  mkdirSync(join(options.data, 'empty-class'));
  await assert.rejects(trainSalfCbm(options), /empty-class/);
});

test('a single class is refused before features are computed; --skip-bad that empties a class is refused naming it', async () => {
  const { root, options } = await setup();
  const one = join(root, 'one-class');
  mkdirSync(join(one, 'reddish'), { recursive: true });
  for (let i = 0; i < 8; i++) copyFileSync(join(options.data, 'reddish', `${i}.png`), join(one, 'reddish', `${i}.png`));
  await assert.rejects(trainSalfCbm({ ...options, data: one, cacheDir: join(root, 'c1') }), /only one class folder \("reddish"\).*at least 2/);
  assert.ok(!existsSync(join(root, 'c1')), 'nothing was computed');

  mkdirSync(join(options.data, 'broken'));
  for (const n of ['a', 'b', 'c']) writeFileSync(join(options.data, 'broken', `${n}.png`), 'not a png');
  await assert.rejects(
    trainSalfCbm({ ...options, skipBad: true }),
    (e: Error) => /every training image of class\(es\) "broken" failed to decode/.test(e.message) && e.message.includes(join('broken', 'a.png')),
  );
  assert.ok(!existsSync(join(options.out, 'config.json')), 'no model was saved');
});

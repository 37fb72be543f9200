/**
 * Training and evaluation on datasets in their official layouts, with tiny random-weight models
 * (plumbing, not explanations): `trainSalfCbm` on a CUB_200_2011 fixture (`cub:<path>`) uses
 * the official train split (hold-out from it for validation) and `evaluateClassification` the
 * official test split; CIFAR images flow from the pickled batches into the feature store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDataset } from '../../src/data/datasets.js';
import { toChwNormalised } from '../../src/data/image-io.js';
import { Engine } from '../../src/engine/session.js';
import { evaluateClassification } from '../../src/eval/classification.js';
import { Backbone, type BackboneConfig } from '../../src/models/backbone.js';
import { extractFeatures } from '../../src/models/extract-features.js';
import { trainSalfCbm } from '../../src/training/train-salf-cbm.js';
import { writeCubLayout } from '../helpers/dataset-layouts.js';
import { fixturePath, tempDir } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/numeric.js';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';
import { writeTinyClip } from '../helpers/tiny-clip.js';

const CONCEPTS = ['red', 'blue', 'green', 'striped', 'round', 'sky'];

test('train on a CUB_200_2011 layout (official train split), then eval on its official test split', async () => {
  const root = tempDir('salf-cub-train-');
  // 2 classes × 8 images; every 4th is a test image: 12 train (6 per class), 4 test.
  await writeCubLayout(join(root, 'data'), ['Red_bird', 'Blue_bird'], 8, 4);
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 2 });
  await writeTinyClip(join(root, 'clip'), { inputSize: 64 });
  const backbone: BackboneConfig = {
    model: cnn.path,
    featureTensor: cnn.featureTensor,
    layout: 'nchw',
    preprocess: { resize: { size: 64, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  };
  const data = `cub:${join(root, 'data')}`;
  const { model, metrics } = await trainSalfCbm({
    data,
    valFraction: 0.25,
    backbone,
    clip: join(root, 'clip'),
    concepts: CONCEPTS,
    out: join(root, 'model'),
    grid: [3, 3],
    cbl: { maxSteps: 20, valEvery: 5, cutoff: -1 },
    finalLayer: { mode: 'sparse', lam: 1e-3, epochsPerLambda: 50 },
  });
  // round(6 × 0.25) = 2 validation images per class from the official train split.
  assert.deepEqual([metrics.numTrain, metrics.numVal], [8, 4]);
  assert.deepEqual(model.classes, ['Red bird', 'Blue bird']);
  assert.equal(metrics.concepts.kept, CONCEPTS.length);

  const result = await evaluateClassification({
    model: join(root, 'model'),
    data,
    valFraction: 0.25,
    methods: ['salf'],
    cacheDir: join(root, 'cache-cls'),
    epochs: 20,
    necTargets: [],
    engine: new Engine({ threads: 1 }),
  });
  assert.deepEqual(result.images, { train: 8, val: 4, eval: 4 });
  assert.deepEqual(
    result.rows.map((r) => r.method),
    ['salf-sparse', 'salf-dense'],
  );
});

test('CIFAR images go from the pickled batches into the backbone without image files', async () => {
  const root = tempDir('salf-cifar-feat-');
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 32, classes: 10 });
  const config: BackboneConfig = {
    model: cnn.path,
    featureTensor: cnn.featureTensor,
    layout: 'nchw',
    preprocess: { resize: { size: 32, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  };
  const engine = new Engine({ threads: 1 });
  const backbone = await Backbone.load(config, [2, 2], engine);
  const test = openDataset(`cifar10:${fixturePath('cifar')}`).split('test');
  const stored = await extractFeatures(backbone, test, { cacheDir: join(root, 'cache'), batchSize: 2 });
  assert.equal(stored.samples.length, 3);
  // The same images built from the fixture tool's pixel formula, run directly.
  const pixel = (i: number, c: number, y: number, x: number): number => (i * 17 + c * 80 + y * 3 + x) % 256;
  const px = new Float32Array(3 * 3 * 32 * 32);
  for (let i = 0; i < 3; i++) {
    const data = new Uint8Array(32 * 32 * 3);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) data[3 * (y * 32 + x) + c] = pixel(i, c, y, x);
    toChwNormalised({ data, width: 32, height: 32 }, config.preprocess.mean, config.preprocess.std, px, i * 3 * 32 * 32);
  }
  const direct = await backbone.run(px, 3);
  // float16 storage: relative precision about 1e-3.
  assert.ok(maxAbsDiff(stored.F, direct.features) < 2e-3 * Math.max(1, ...direct.features.map(Math.abs)), 'stored features match the direct run');
});

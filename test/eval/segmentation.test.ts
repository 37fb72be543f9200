/**
 * The zero-shot segmentation evaluation on a tiny trained model (plumbing, not meaning): on the
 * gtsegs_ijcv.mat-layout fixture every method runs and a figure is written; a run killed after
 * some shards resumes from them to the same result; per-image SALF-CBM and CAM statistics equal
 * a direct computation through other code paths (the backbone's own grid resize, plain-JS CAM and
 * upsampling); the proving-ground data set reads the class object's mask.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/engine/session.js';
import { Backbone } from '../../src/models/backbone.js';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { toChwNormalised } from '../../src/data/image-io.js';
import { generateWorld, loadAnnotation, loadLabelMask } from '../../src/proving-ground/index.js';
import { backboneHead } from '../../src/eval/native-backbone.js';
import { classConceptIndex, evaluateSegmentation } from '../../src/eval/segmentation.js';
import { readJsonShard } from '../../src/eval/shard-cache.js';
import { imageNetSegDataset, type SegDataset, type SegExample } from '../../src/eval/seg-datasets.js';
import { provingGroundSegDataset } from '../../src/proving-ground/seg-dataset.js';
import { segmentationImageStats, type SegImageStats } from '../../src/eval/segmentation-metrics.js';
import { decodePng } from '../../src/proving-ground/png.js';
import type { Progress } from '../../src/progress.js';
import { fixturePath, tempDir } from '../helpers/paths.js';
import { trainTinySalf } from './tiny-model.js';
import { upsample } from '../helpers/numeric.js';

const setup = trainTinySalf();
const engine = new Engine({ threads: 1 });

function recorder(): Progress & { logs: string[] } {
  const logs: string[] = [];
  return { logs, start() {}, update() {}, stop() {}, log: (m) => logs.push(m) };
}

test('gtsegs layout: all methods, a figure, resume after a partial run, same results', async () => {
  const s = await setup;
  const dataset = await imageNetSegDataset(fixturePath('gtsegs-mini.mat'));
  const cacheDir = join(s.root, 'seg-cache');
  const figure = join(s.root, 'figure.png');
  const base = { model: s.modelDir, dataset, cacheDir, shardSize: 2, scoreCamBatch: 8, engine };
  const partial = await evaluateSegmentation({ ...base, limit: 2 });
  assert.equal(partial.images, 2);
  const rec = recorder();
  const full = await evaluateSegmentation({ ...base, figure: { path: figure, count: 3 }, progress: rec });
  assert.ok(
    rec.logs.some((l) => /reused 1 of 2 cached shard/.test(l)),
    rec.logs.join('\n'),
  );
  assert.equal(full.images, 3);
  assert.equal(full.salfMap, 'concept', 'every class has an "an image of a {class}" concept');
  assert.deepEqual(
    full.methods.map((m) => m.method),
    ['salf', 'cam', 'scorecam'],
  );
  for (const m of full.methods) {
    for (const v of [m.pixelAccuracy, m.mIoU, m.mAP, ...m.iou]) assert.ok(v >= 0 && v <= 1, `${m.method}: ${v}`);
    assert.equal(m.images, 3);
  }
  const fresh = await evaluateSegmentation({ ...base, cacheDir: join(s.root, 'seg-cache-fresh') });
  assert.deepEqual(fresh.methods, full.methods, 'resumed and fresh runs agree');

  const png = decodePng(readFileSync(figure));
  assert.deepEqual([png.width, png.height], [5 * 64 + 4 * 4, 3 * 64 + 2 * 4], 'rows: images; columns: image, mask, 3 methods');
  assert.deepEqual(full.figure!.columns, ['image', 'ground truth', 'SALF-CBM', 'Grad-CAM (= CAM)', 'Score-CAM']);

  const contribution = await evaluateSegmentation({ ...base, methods: ['salf'], salfMap: 'contribution' });
  assert.equal(contribution.salfMap, 'contribution');
  await assert.rejects(
    evaluateSegmentation({ ...base, methods: ['salf'], salfMap: 'concept', classConcept: 'a drawing of {class}' }),
    /no concept names the class\(es\) "bluish", "reddish"/,
  );
  dataset.close();
});

test('per-image SALF-CBM (concept map) and CAM statistics equal a direct computation', async () => {
  const s = await setup;
  // Two 64×64 images (the input size: no resizing) with hand-made masks.
  const examples: SegExample[] = [0, 1].map((k) => {
    const data = new Uint8Array(64 * 64 * 3).map((_, i) => (i * (7 + k) + (i >> 6) * 13) % 256);
    const mask = new Uint8Array(64 * 64).map((_, i) => (i % 64 > 20 + 10 * k && i >> 6 < 40 ? 1 : 0));
    return { id: `hand-${k}`, image: { data, width: 64, height: 64 }, mask: { data: mask, width: 64, height: 64 } };
  });
  const dataset: SegDataset = { name: 'hand-made', identity: 'hand-made-v1', length: 2, read: async (i) => examples[i]!, close: () => undefined };
  const cacheDir = join(s.root, 'seg-direct');
  // Plain CAM (no ReLU): with this random-weight CNN the ReLU'd map is almost all zeros, whose
  // AP then hinges on how float rounding breaks ties, not on the computation under test.
  const res = await evaluateSegmentation({ model: s.modelDir, dataset, cacheDir, methods: ['salf', 'cam'], camRelu: false, engine });
  const shard = readJsonShard(join(res.cacheDir, 'shard-000000.jsonl')) as { images: { stats: Record<string, SegImageStats> }[] };

  const model = SalfCbm.load(s.modelDir);
  const classConcept = classConceptIndex(model.classes, model.concepts);
  assert.deepEqual(classConcept, [6, 7]);
  const named = ['x', 'A B', 'an image of a c'];
  assert.deepEqual(classConceptIndex(['a_b', 'c', 'd'], named), [1, 2, -1], 'templates, underscores as spaces, case-insensitive');
  assert.deepEqual(classConceptIndex(['n01', 'n02'], named, undefined, ['an image of a C', 'x']), [2, 0], 'explicit per-class concepts');
  assert.throws(() => classConceptIndex(['n01', 'n02'], named, undefined, ['x']), /1 class concepts given for 2 classes/);
  const salfBackbone = await Backbone.load(model.config.backbone, [3, 3], engine); // resizes in its own tail
  const nativeBackbone = await Backbone.load(model.config.backbone, [4, 4], engine);
  const head = backboneHead(nativeBackbone);
  const { mean, std } = model.config.backbone.preprocess;
  for (let i = 0; i < 2; i++) {
    const px = toChwNormalised(examples[i]!.image, mean, std);
    const mask = examples[i]!.mask.data;
    // SALF-CBM: concept map of the predicted class's concept.
    const out = await model.forwardFeatures((await salfBackbone.run(px, 1)).features, 1);
    const l = out.logits[0]! >= out.logits[1]! ? 0 : 1;
    const cmap = out.conceptMaps.subarray(classConcept[l]! * 9, (classConcept[l]! + 1) * 9);
    const salfStats = segmentationImageStats(upsample(cmap, 3, 3, 64), mask);
    assert.deepEqual(shard.images[i]!.stats.salf, { ...salfStats, ap: shard.images[i]!.stats.salf!.ap });
    assert.ok(Math.abs(salfStats.ap - shard.images[i]!.stats.salf!.ap) < 1e-6);
    // CAM: Σ_d W[c,d] F[d] of the backbone's predicted class, in plain JS.
    const nat = await nativeBackbone.run(px, 1);
    const c = nat.logits![0]! >= nat.logits![1]! ? 0 : 1;
    const cam = new Float32Array(16);
    for (let p = 0; p < 16; p++) {
      let v = 0;
      for (let d = 0; d < 32; d++) v += head.weight[c * 32 + d]! * nat.features[p * 32 + d]!;
      cam[p] = v;
    }
    const camStats = segmentationImageStats(upsample(cam, 4, 4, 64), mask);
    assert.deepEqual(shard.images[i]!.stats.cam, { ...camStats, ap: shard.images[i]!.stats.cam!.ap });
    assert.ok(Math.abs(camStats.ap - shard.images[i]!.stats.cam!.ap) < 1e-6);
  }
});

test('proving-ground masks: the class object (or every object) as foreground', async () => {
  const s = await setup;
  const world = tempDir('salf-pg-');
  await generateWorld({ seed: 3, counts: { train: 8, val: 0, test: 2, shifted: 0 }, size: 64, outDir: world });
  const ds = provingGroundSegDataset(world, 'test', 'main');
  assert.equal(ds.length, 2);
  const ex = await ds.read(1);
  const labels = loadLabelMask(world, 'test-00001');
  const main = loadAnnotation(world, 'test-00001').mainObject + 1;
  assert.deepEqual(
    Array.from(ex.mask.data),
    Array.from(labels, (v) => (v === main ? 1 : 0)),
  );
  assert.ok(ex.mask.data.some((v) => v === 1));
  const all = await provingGroundSegDataset(world, 'test', 'objects').read(1);
  assert.deepEqual(
    Array.from(all.mask.data),
    Array.from(labels, (v) => (v > 0 ? 1 : 0)),
  );
  assert.throws(() => provingGroundSegDataset(world, 'val'), /the val split has no images/);
  const res = await evaluateSegmentation({ model: s.modelDir, dataset: ds, cacheDir: join(s.root, 'seg-pg'), methods: ['salf', 'cam'], engine });
  assert.equal(res.images, 2);
});

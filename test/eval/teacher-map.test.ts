/**
 * The CLIP teacher's class map (src/eval/teacher-map.ts) and its place in the segmentation
 * evaluation: a hand-checkable dot product; the per-image statistics the evaluation stores for
 * `teacher` equal those of P computed through the training path (prompted embeddings, then
 * conceptSimilarities in ONNX Runtime), for SALF-CBM's predicted class. Tiny random-weight models:
 * plumbing, not meaning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Engine } from '../../src/engine/session.js';
import { Backbone } from '../../src/models/backbone.js';
import { ClipModel } from '../../src/models/clip.js';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { toChwNormalised } from '../../src/data/image-io.js';
import { classConceptIndex, evaluateSegmentation } from '../../src/eval/segmentation.js';
import { teacherSummaryLine } from '../../src/eval/report.js';
import { TeacherClassMaps, teacherClassMap } from '../../src/eval/teacher-map.js';
import { readJsonShard } from '../../src/eval/shard-cache.js';
import type { SegDataset, SegExample } from '../../src/eval/seg-datasets.js';
import { segmentationImageStats, type SegImageStats } from '../../src/eval/segmentation-metrics.js';
import { conceptSimilarities } from '../../src/similarity/compute.js';
import { PromptedBatchBuilder } from '../../src/similarity/prompted-batch.js';
import type { Placement } from '../../src/similarity/prompting.js';
import { trainTinySalf } from './tiny-model.js';
import { upsample } from '../helpers/numeric.js';

const setup = trainTinySalf();
const engine = new Engine({ threads: 1 });

test('teacherClassMap: P[g] = I[g]·t, by hand', () => {
  // Three grid cells, E = 2: unit embeddings along x, along y and at (0.6, 0.8); t = (0.6, 0.8).
  const I = Float32Array.from([1, 0, 0, 1, 0.6, 0.8]);
  const map = teacherClassMap(I, 3, 2, Float32Array.from([0.6, 0.8]));
  assert.deepEqual(
    Array.from(map, (v) => Math.round(v * 1e6) / 1e6),
    [0.6, 0.8, 1],
  );
  assert.throws(() => teacherClassMap(I, 2, 2, Float32Array.from([0.6, 0.8])), /6 embedding values, expected 2×2/);
  assert.throws(() => teacherClassMap(I, 3, 2, Float32Array.from([1])), /text embedding has 1 values, expected 2/);
});

test('the teacher needs a concept naming every class', async () => {
  const s = await setup;
  const model = SalfCbm.load(s.modelDir);
  await assert.rejects(TeacherClassMaps.load(model, [-1, 7]), /no concept names the class\(es\) "bluish"/);
});

test("segmentation 'teacher': the predicted class's P map, scored as SALF-CBM's", async () => {
  const s = await setup;
  // Two 64×64 images (the backbone's and the tiny CLIP's input size) with hand-made masks.
  const examples: SegExample[] = [0, 1].map((k) => {
    const data = new Uint8Array(64 * 64 * 3).map((_, i) => (i * (5 + k) + (i >> 6) * 11) % 256);
    const mask = new Uint8Array(64 * 64).map((_, i) => (i % 64 < 30 + 8 * k && i >> 6 > 16 ? 1 : 0));
    return { id: `hand-${k}`, image: { data, width: 64, height: 64 }, mask: { data: mask, width: 64, height: 64 } };
  });
  const dataset: SegDataset = { name: 'hand-made', identity: 'hand-made-teacher-v1', length: 2, read: async (i) => examples[i]!, close: () => undefined };
  const res = await evaluateSegmentation({ model: s.modelDir, dataset, cacheDir: join(s.root, 'seg-teacher'), methods: ['salf', 'teacher'], engine });
  assert.deepEqual(
    res.methods.map((m) => [m.method, m.label]),
    [
      ['salf', 'SALF-CBM'],
      ['teacher', 'P (CLIP teacher)'],
    ],
  );
  const teacher = res.methods[1]!;
  assert.equal(
    teacherSummaryLine(res),
    `teacher pixel_acc_p=${teacher.pixelAccuracy.toFixed(4)} miou_p=${teacher.mIoU.toFixed(4)} map_p=${teacher.mAP.toFixed(4)}`,
  );
  const shard = readJsonShard(join(res.cacheDir, 'shard-000000.jsonl')) as { images: { stats: Record<string, SegImageStats> }[] };

  // P through the training path: prompted embeddings of all 9 circles, then P = I·Tᵀ for every
  // concept in ONNX Runtime; the column of the concept naming SALF-CBM's predicted class.
  const model = SalfCbm.load(s.modelDir);
  const classConcept = classConceptIndex(model.classes, model.concepts);
  const clip = await ClipModel.load(s.clip);
  const T = await clip.encodeTexts(model.concepts);
  const M = model.concepts.length;
  const builder = new PromptedBatchBuilder(
    { size: clip.inputSize, grid: model.config.grid, radius: model.config.prompting.radius, placement: model.config.prompting.placement as Placement },
    clip.mean,
    clip.std,
  );
  const backbone = await Backbone.load(model.config.backbone, [3, 3], engine);
  const { mean, std } = model.config.backbone.preprocess;
  let differs = false;
  for (let i = 0; i < 2; i++) {
    const out = await model.forwardFeatures((await backbone.run(toChwNormalised(examples[i]!.image, mean, std), 1)).features, 1);
    const l = out.logits[0]! >= out.logits[1]! ? 0 : 1;
    const I = await clip.encodeImages(builder.buildAll(examples[i]!.image), 9);
    const P = await conceptSimilarities(I, 1, 9, clip.embedDim, T, M, engine);
    const map = Array.from({ length: 9 }, (_, g) => P[g * M + classConcept[l]!]!);
    const stats = segmentationImageStats(upsample(map, 3, 3, 64), examples[i]!.mask.data);
    const got = shard.images[i]!.stats.teacher!;
    assert.deepEqual(got, { ...stats, ap: got.ap });
    assert.ok(Math.abs(stats.ap - got.ap) < 1e-6, `AP ${got.ap} vs ${stats.ap}`);
    if (JSON.stringify(got) !== JSON.stringify(shard.images[i]!.stats.salf)) differs = true;
  }
  assert.ok(differs, "the teacher's statistics are its own, not SALF-CBM's");
  await clip.dispose();
});

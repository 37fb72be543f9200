/**
 * The classification comparison on a tiny trained model (plumbing, not accuracy): every row and
 * NEC curve is produced; the backbone-head and SALF-CBM accuracies equal independently computed
 * ones (feature extraction and the model's own forward pass on the image files); a rerun reuses
 * the cached feature shards and gives the same results; bad input fails early.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { scanImageFolder } from '../../src/data/image-folder.js';
import { Engine } from '../../src/engine/session.js';
import { Backbone } from '../../src/models/backbone.js';
import { extractFeatures } from '../../src/models/extract-features.js';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { evaluateClassification, type ClassificationEvalOptions } from '../../src/eval/classification.js';
import type { Progress } from '../../src/progress.js';
import { trainTinySalf, TINY_CONCEPTS } from './tiny-model.js';

const setup = trainTinySalf();

function recorder(): Progress & { logs: string[] } {
  const logs: string[] = [];
  return { logs, start() {}, update() {}, stop() {}, log: (m) => logs.push(m) };
}

function argmaxAccuracy(logits: Float32Array, labels: number[], L: number): number {
  let correct = 0;
  labels.forEach((y, i) => {
    let best = 0;
    for (let c = 1; c < L; c++) if (logits[i * L + c]! > logits[i * L + best]!) best = c;
    if (best === y) correct++;
  });
  return correct / labels.length;
}

test('all baselines side by side, with accuracy vs NEC; head and SALF accuracies match independent computations', async () => {
  const s = await setup;
  const options: ClassificationEvalOptions = {
    model: s.modelDir,
    data: s.data,
    splitFile: s.splitFile,
    cacheDir: join(s.root, 'cache-cls'),
    epochs: 100,
    necTargets: [1, 2, 4],
    path: { k: 6, epochs: 40 },
    lfcbm: { maxSteps: 20, valEvery: 5, cutoff: -1 },
    engine: new Engine({ threads: 1 }),
  };
  const first = await evaluateClassification(options);
  assert.deepEqual(first.images, { train: 8, val: 4, eval: 4 });
  assert.deepEqual(
    first.rows.map((r) => r.method),
    ['standard', 'standard-sparse', 'lfcbm', 'salf-sparse', 'salf-dense'],
  );
  for (const r of first.rows) assert.ok(r.accuracy !== undefined && r.accuracy >= 0 && r.accuracy <= 1, `${r.method}: ${r.accuracy}`);
  assert.deepEqual(
    first.necCurves.map((c) => c.method),
    ['standard-sparse', 'lfcbm', 'salf-sparse'],
  );
  for (const c of first.necCurves) {
    assert.deepEqual(
      c.points.map((p) => p.target),
      [1, 2, 4],
    );
    for (const p of c.points) assert.ok(p.nec <= p.target || p.nnz === 0, `${c.method}: NEC ${p.nec} for target ${p.target}`);
  }
  assert.equal(first.lfcbm!.conceptsKept, TINY_CONCEPTS.length);
  assert.equal(first.rows.find((r) => r.method === 'salf-sparse')!.note, "the model's own final layer");

  // Independent: the backbone head through extractFeatures, SALF-CBM through its own forward pass.
  const folder = scanImageFolder(s.data, { splitFile: s.splitFile });
  const testSamples = folder.split('test');
  const labels = testSamples.map((x) => x.label);
  const backbone = await Backbone.load(s.backbone, [3, 3], new Engine({ threads: 1 }));
  const feats = await extractFeatures(backbone, testSamples);
  assert.equal(first.rows[0]!.accuracy, argmaxAccuracy(feats.logits!, labels, 2));
  const model = SalfCbm.load(s.modelDir);
  const out = await model.forwardImages(testSamples.map((x) => x.path));
  assert.equal(first.rows.find((r) => r.method === 'salf-sparse')!.accuracy, argmaxAccuracy(out.logits, labels, 2));

  // Resume: the feature shards and the finished methods' results are reused; the method whose
  // result is missing is recomputed to the same numbers.
  rmSync(join(first.cache.results, 'shard-000003.jsonl'));
  const rec = recorder();
  const second = await evaluateClassification({ ...options, progress: rec });
  assert.ok(
    rec.logs.some((l) => /reused 1 of 1 cached feature shard/.test(l)),
    rec.logs.join('\n'),
  );
  assert.ok(
    rec.logs.some((l) => /reused 3 cached method result/.test(l)),
    rec.logs.join('\n'),
  );
  assert.deepEqual(second.rows, first.rows);
  assert.deepEqual(second.necCurves, first.necCurves);
});

test('clear errors: a data set with other classes, a missing split', async () => {
  const s = await setup;
  const base = { model: s.modelDir, cacheDir: join(s.root, 'cache-bad'), methods: ['standard' as const] };
  const other = join(s.root, 'other-classes');
  for (const cls of ['greenish', 'reddish']) {
    mkdirSync(join(other, cls), { recursive: true });
    copyFileSync(join(s.data, 'reddish', '0.png'), join(other, cls, '0.png'));
  }
  await assert.rejects(
    evaluateClassification({ ...base, data: other, valFraction: 0.5 }),
    /other-classes: the classes \(greenish, reddish\) differ from the model's \(bluish, reddish\)/,
  );
  await assert.rejects(evaluateClassification({ ...base, data: s.data }), /data: need ≥ 2 training, ≥ 1 validation and ≥ 1 test images \(got 14, 2, 0\)/);
});

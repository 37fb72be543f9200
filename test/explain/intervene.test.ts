/** Local intervention on the hand-set colour model: exact effects, applied once, for every pooling. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyseImages, imageOutputs } from '../../src/explain/analyse.js';
import { applyEdits, intervene } from '../../src/explain/intervene.js';
import { parseRegion, rasteriseRegion } from '../../src/explain/regions.js';
import { conceptModelFromSalf } from '../../src/models/concept-model.js';
import { poolMaps } from '../../src/web/core/classify.js';
import { tempDir } from '../helpers/paths.js';
import { BLUE, FINAL_BIAS, FINAL_WEIGHT, MEANS, RED, STD, colourModel, writeScene } from './colour-model.js';

const root = tempDir('salf-intervene-');
const M = 4;
const G = 16;

async function setup(pooling: 'mean' | 'max' | 'softmax') {
  const model = conceptModelFromSalf(colourModel(root, pooling));
  const img = await writeScene(join(root, `scene-${pooling}.png`), 64, 64, RED, [{ rect: [32, 0, 64, 64], colour: BLUE }]);
  const { images, outputs } = await analyseImages(model, [img]);
  return { model, g: images[0]!.geometry, out: imageOutputs(model, outputs, 0) };
}

test('with mean pooling an edit of one grid cell moves every logit by exactly W_F[:, m]·β/(G·σ_m): applied once', async () => {
  const { model, g, out } = await setup('mean');
  // Input pixels [16, 32)² are grid cell (1, 1): the grid mask is one-hot there.
  const region = rasteriseRegion(await parseRegion('box:16,16,32,32'), g, { frame: 'input' });
  const beta = 3;
  const red = 0;
  const res = await intervene(model, out, [{ concept: red, beta, region }]);
  assert.deepEqual(
    res.edits[0]!.gridMask,
    Array.from({ length: G }, (_, k) => (k === 5 ? 1 : 0)),
  );
  const dStd = beta / (G * STD);
  for (const l of res.logits) {
    const li = model.classes.indexOf(l.class);
    assert.ok(
      Math.abs(l.delta - FINAL_WEIGHT[li * M + red]! * dStd) < 1e-5,
      `${l.class}: Δ ${l.delta}, expected ${FINAL_WEIGHT[li * M + red]! * dStd} (twice would be ${2 * FINAL_WEIGHT[li * M + red]! * dStd})`,
    );
  }
  const c = res.concepts[0]!;
  assert.equal(c.concept, 'red');
  assert.ok(Math.abs(c.activationAfter - c.activationBefore - beta / G) < 1e-6);
  // Every reported contribution change is W_F·Δĉ and they add up to the logit changes.
  for (const ch of res.contributions) assert.ok(Math.abs(ch.delta - ch.weight * dStd) < 1e-5);
  const reddish = res.contributions.filter((x) => x.class === 'reddish').reduce((a, x) => a + x.delta, 0);
  assert.ok(Math.abs(reddish - res.logits[0]!.delta) < 1e-5);
});

for (const pooling of ['mean', 'max', 'softmax'] as const) {
  test(`edited maps are pooled, standardised and classified as the model says (${pooling} pooling)`, async () => {
    const { model, g, out } = await setup(pooling);
    const edits = [
      { concept: 2, beta: 1.5, region: rasteriseRegion(await parseRegion('box:0,0,40,24'), g) },
      { concept: 0, beta: -0.7, region: rasteriseRegion(await parseRegion('point:48,40,12'), g) },
    ];
    const edited = applyEdits(model, out.conceptMaps, edits);
    // Reference: the plain TypeScript pooling (web/core/classify.ts), then SPEC's equations.
    const pooled = poolMaps(edited, M, G, pooling);
    const std = Array.from(pooled, (p, m) => (p - MEANS[m]!) / STD);
    const res = await intervene(model, out, edits);
    for (let l = 0; l < 3; l++) {
      const want = FINAL_BIAS[l]! + std.reduce((a, s, m) => a + FINAL_WEIGHT[l * M + m]! * s, 0);
      assert.ok(Math.abs(res.logits[l]!.after - want) < 1e-4, `${res.logits[l]!.class}: ${res.logits[l]!.after} vs ${want}`);
      assert.ok(Math.abs(res.logits[l]!.before - out.logits[l]!) < 1e-4, 'before = the forward pass');
    }
    assert.deepEqual(
      res.concepts.map((c) => c.concept),
      ['red', 'blue'],
    );
  });
}

test('raising a concept a class relies on, inside an object, moves the prediction towards that class as the weights say', async () => {
  const { model, g, out } = await setup('mean');
  const before = await intervene(model, out, [{ concept: 2, beta: 0, region: rasteriseRegion(await parseRegion('all'), g) }]);
  assert.equal(before.before.prediction.class, 'reddish');
  // "blue" has weight +2 for bluish and −1 for reddish: raise it inside the red half.
  const region = rasteriseRegion(await parseRegion('box:0,0,32,64'), g);
  const small = await intervene(model, out, [{ concept: 2, beta: 0.5, region }], [2]);
  const d = Object.fromEntries(small.logits.map((l) => [l.class, l.delta]));
  assert.ok(d.bluish! > 0 && d.reddish! < 0 && Math.abs(d.greenish!) < 1e-6, JSON.stringify(d));
  assert.ok(Math.abs(d.bluish! / d.reddish! + 2) < 1e-4, 'changes in the ratio of the weights, 2 : −1');
  assert.ok(small.after.classes.find((c) => c.class === 'bluish')!.probability > small.before.classes.find((c) => c.class === 'bluish')!.probability);
  const big = await intervene(model, out, [{ concept: 2, beta: 4, region }]);
  assert.equal(big.after.prediction.class, 'bluish');
  assert.ok(big.contributions.some((c) => c.class === 'bluish' && c.concept === 'blue' && c.delta > 0));
  await assert.rejects(intervene(model, out, []), /no edits given/);
  await assert.rejects(intervene(model, out, [{ concept: 9, beta: 1, region }]), /concept index 9 is out of range/);
  await assert.rejects(intervene(model, out, [{ concept: 1, beta: Number.NaN, region }]), /β must be a finite number/);
  // Finite as a double but not as float32 (before: "NaN%" probabilities and exit 0).
  await assert.rejects(intervene(model, out, [{ concept: 2, beta: 1e39, region }]), /β 1e\+39 on concept "blue" makes its map Infinity/);
  // Within float32 but overflowing once weighted and summed in the classifier.
  await assert.rejects(
    intervene(model, out, [
      { concept: 2, beta: 3e38, region },
      { concept: 0, beta: -3e38, region },
    ]),
    /logit of class ".*" for the edited image is (-?Infinity|NaN).*smaller β/,
  );
});

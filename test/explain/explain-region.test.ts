/** Explain Anything on the hand-set colour model: each region lists the concept that is there. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseImages, imageOutputs } from '../../src/explain/analyse.js';
import { explainRegion, regionScores } from '../../src/explain/explain-region.js';
import { upsampleBilinear } from '../../src/explain/heatmap.js';
import { encodeRle, parseRegion, rasteriseRegion } from '../../src/explain/regions.js';
import { conceptModelFromSalf } from '../../src/models/concept-model.js';
import { tempDir } from '../helpers/paths.js';
import { BLUE, GREEN, MEANS, RED, STD, colourModel, writeScene } from './colour-model.js';

const root = tempDir('salf-region-');
const model = conceptModelFromSalf(colourModel(root, 'mean', { mode: 'center' }));

test("the region of each object lists that object's colour among its top concepts, and first when standardised", async () => {
  // 128×96 picture, centre-cropped to the 96×96 middle (x 16–112) and resized to 64×64.
  const img = await writeScene(join(root, 'scene.png'), 128, 96, BLUE, [
    { rect: [24, 8, 64, 48], colour: RED },
    { rect: [72, 48, 112, 96], colour: GREEN },
  ]);
  const { images, outputs } = await analyseImages(model, [img]);
  const out = imageOutputs(model, outputs, 0);
  const g = images[0]!.geometry;
  const cases: [string, string][] = [
    ['box:24,8,64,48', 'red'],
    ['point:44,28,12', 'red'],
    ['box:72,48,112,96', 'green'],
    ['box:70,4,110,40', 'blue'],
  ];
  for (const [spec, want] of cases) {
    const e = explainRegion(model, out, rasteriseRegion(await parseRegion(spec), g), 2);
    // Raw activations: among the top two (brightness is high on every saturated colour);
    // standardised by the training statistics: first.
    assert.ok(
      e.bySum.some((s) => s.concept === want),
      `${spec}: by sum ${JSON.stringify(e.bySum)}`,
    );
    assert.deepEqual(
      e.byMean.map((s) => s.concept),
      e.bySum.map((s) => s.concept),
      `${spec}: by mean = by sum`,
    );
    assert.equal(e.byStandardised[0]!.concept, want, `${spec}: standardised ${JSON.stringify(e.byStandardised)}`);
    assert.ok(e.area > 0 && e.fraction > 0 && e.fraction < 1);
    const top = e.bySum[0]!;
    assert.ok(Math.abs(top.mean - top.sum / e.area) < 1e-9);
    assert.ok(Math.abs(top.standardised - (top.mean - MEANS[top.index]!) / STD) < 1e-9);
  }
  // The same object as a box, a mask image and a SAM RLE: the same scores.
  const mask = new Uint8Array(128 * 96);
  for (let y = 8; y < 48; y++) for (let x = 24; x < 64; x++) mask[y * 128 + x] = 1;
  writeFileSync(join(root, 'sam.json'), JSON.stringify({ segmentation: encodeRle(mask, 128, 96) }));
  const viaBox = regionScores(model, out, rasteriseRegion(await parseRegion('box:24,8,64,48'), g));
  const viaSam = regionScores(model, out, rasteriseRegion(await parseRegion(`sam:${join(root, 'sam.json')}`), g));
  assert.deepEqual(viaSam, viaBox);
});

test('region sums equal Σ I ⊙ up(C) computed by upsampling every map', async () => {
  const img = await writeScene(join(root, 'noise.png'), 96, 96, BLUE, [
    { rect: [10, 50, 40, 90], colour: RED },
    { rect: [60, 5, 90, 30], colour: GREEN },
  ]);
  const { images, outputs } = await analyseImages(model, [img]);
  const out = imageOutputs(model, outputs, 0);
  const region = rasteriseRegion(await parseRegion('point:30,60,20'), images[0]!.geometry);
  const scores = regionScores(model, out, region);
  for (let m = 0; m < model.concepts.length; m++) {
    const up = upsampleBilinear(out.conceptMaps.subarray(m * 16, (m + 1) * 16), 4, 4, 64, 64);
    let sum = 0;
    for (let p = 0; p < up.length; p++) if (region.mask[p]) sum += up[p]!;
    assert.ok(Math.abs(scores[m]!.sum - sum) < 1e-3, `${model.concepts[m]}: ${scores[m]!.sum} vs ${sum}`);
  }
});

/**
 * A scaled-down demo on the committed proving-ground models (trained, not random: the numbers
 * mean something, but with so few images they are noisy, so only coarse bounds are asserted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runDemo } from '../../src/proving-ground/demo.js';
import { tempDir } from '../helpers/paths.js';

test('a small demo trains, explains, and points at concepts well above chance', async () => {
  const out = tempDir('salf-demo-');
  const r = await runDemo({ out, counts: { train: 96, val: 32, test: 32, shifted: 16 }, pictures: 2 });
  assert.equal(r.test.images, 32);
  assert.equal(r.shifted.images, 16);
  assert.ok(r.test.pairs > 32, 'every test image has concepts present');
  assert.ok(r.test.pointingChance > 0 && r.test.pointingChance < 0.2, `chance level ${r.test.pointingChance}`);
  assert.ok(r.test.pointingGameC > 2 * r.test.pointingChance, `SALF-CBM pointing game ${r.test.pointingGameC} vs chance ${r.test.pointingChance}`);
  assert.ok(r.test.pointingGameP > 2 * r.test.pointingChance, `CLIP pointing game ${r.test.pointingGameP} vs chance ${r.test.pointingChance}`);
  // The main object carries one shape, one colour and one pattern word; distractors add more.
  assert.ok(
    r.test.mainPairs > 0 && r.test.mainPairs <= 3 * r.test.images && r.test.mainPairs < r.test.pairs,
    `${r.test.mainPairs} of ${r.test.pairs} pairs on the main object`,
  );
  assert.ok(r.test.pointingGameMainC > 2 * r.test.pointingChance, `SALF-CBM pointing game on main-object concepts ${r.test.pointingGameMainC}`);
  assert.ok(r.test.accuracyBlackbox > 0.9, `black box ${r.test.accuracyBlackbox}`);
  assert.ok(r.test.accuracySalfSparse > 0.5, `SALF-CBM sparse ${r.test.accuracySalfSparse} (8 classes: chance 0.125)`);
  assert.ok(existsSync(join(r.model, 'weights.safetensors')));
  const pictures = readdirSync(r.pictures);
  assert.equal(pictures.length, 2);
  assert.ok(readdirSync(join(r.pictures, pictures[0]!)).some((f) => f.startsWith('heatmaps-') && f.endsWith('.png')));
});

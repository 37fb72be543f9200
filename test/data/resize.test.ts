/**
 * The shared preprocessing path (src/data/resize.ts): a model's `preprocess` (resize spec,
 * filter, mean/std) applied by preprocessImage is resizeToSpec then toChwNormalised with the
 * filter it names (bilinear when it names none), and CLIP's is a bicubic centre crop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clipPreprocess,
  DEFAULT_INTERPOLATION,
  modelInput,
  normaliseInput,
  preprocessImage,
  resizeToSpec,
  toChwNormalised,
  type InputPreprocess,
} from '../../src/data/resize.js';
import type { RgbImage } from '../../src/data/rgb-image.js';

/** A 13×9 image whose pixels all differ (so resampling filters give different results). */
function gradient(): RgbImage {
  const width = 13;
  const height = 9;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i % 7) * 11) % 256;
  return { data, width, height };
}

const mean = [0.485, 0.456, 0.406];
const std = [0.229, 0.224, 0.225];

test('preprocessImage: the filter the preprocessing names, bilinear by default, then normalisation', () => {
  const image = gradient();
  const resize = { size: 5, mode: 'center' as const, resize: 7 };
  const bilinear = toChwNormalised(resizeToSpec(image, resize, 'bilinear'), mean, std);
  const bicubic = toChwNormalised(resizeToSpec(image, resize, 'bicubic'), mean, std);
  assert.notDeepEqual(bilinear, bicubic, 'the test image must tell the filters apart');
  assert.equal(DEFAULT_INTERPOLATION, 'bilinear');
  const unnamed: InputPreprocess = { resize, mean, std };
  assert.deepEqual(preprocessImage(image, unnamed), bilinear);
  assert.deepEqual(preprocessImage(image, { ...unnamed, interpolation: 'bicubic' }), bicubic);
  assert.deepEqual(modelInput(image, unnamed), resizeToSpec(image, resize, 'bilinear'));
  // Written into a batch buffer at an offset, the rest untouched.
  const out = new Float32Array(2 * 75).fill(7);
  preprocessImage(image, unnamed, out, 75);
  assert.deepEqual(out.subarray(75), bilinear);
  assert.ok(out.subarray(0, 75).every((v) => v === 7));
  assert.deepEqual(normaliseInput(modelInput(image, unnamed), unnamed), bilinear);
});

test("clipPreprocess: CLIP's input side, centre crop, bicubic, the encoder's mean and std", () => {
  const encoder = { inputSize: 6, mean: [0.48, 0.46, 0.41], std: [0.27, 0.26, 0.28] };
  const p = clipPreprocess(encoder);
  assert.deepEqual(p, { resize: { size: 6, mode: 'center' }, interpolation: 'bicubic', mean: encoder.mean, std: encoder.std });
  const image = gradient();
  assert.deepEqual(preprocessImage(image, p), toChwNormalised(resizeToSpec(image, { size: 6, mode: 'center' }, 'bicubic'), encoder.mean, encoder.std));
});

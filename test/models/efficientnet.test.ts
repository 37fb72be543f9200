/**
 * A real pretrained backbone as a check: EfficientNet-Lite0 with its ImageNet weights, exported
 * to ONNX by tools/export_efficientnet_lite0.py (with PyTorch's own result on the same photo),
 * must classify scikit-image's `chelsea` photo as a cat through salf-cbm's own backbone path:
 * decoding, PIL-exact resize and crop, normalisation, the derived ONNX model and its logits.
 *
 * The export (about 19 MB, made from PyPI packages) is not committed. `.ci/run` always makes it
 * before `npm test`, so in CI (CI set) this test always runs, and fails if the export is missing.
 * On a developer's machine without the export it is reported as skipped, with the command that
 * makes it; it never passes without checking.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadRgb, toChwNormalised } from '../../src/data/image-io.js';
import { Engine } from '../../src/engine/session.js';
import { Backbone, type BackboneConfig } from '../../src/models/backbone.js';
import { extractFeatures } from '../../src/models/extract-features.js';
import { repoRoot } from '../helpers/paths.js';
import { skipUnlessPresent } from '../helpers/required-in-ci.js';

const dir = join(repoRoot(), '.cache', 'efficientnet-lite0');
const configPath = join(dir, 'backbone.json');
const exported = existsSync(configPath);
const MAKE = '.venv/bin/python tools/export_efficientnet_lite0.py';
const skip = skipUnlessPresent(exported, `no export at ${configPath}; make it with: ${MAKE}`);

/** ImageNet's cat classes: tabby, tiger cat, Persian, Siamese, Egyptian cat. */
const CATS = new Set([281, 282, 283, 284, 285]);
/** PyTorch vs ONNX Runtime on identical float32 inputs: only kernel rounding differs (seen: ~5e-6). */
const LOGIT_TOL = 1e-4;
const FEATURE_TOL = 1e-4;

interface Reference {
  image: string;
  imageSize: [number, number];
  preprocess: BackboneConfig['preprocess'];
  inputSha256: string;
  top5: number[];
  logits: number[];
  pooledFeatures: number[];
  featureShape: [number, number, number];
}

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());

function topK(v: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: v.length }, (_, i) => i)
    .sort((a, b) => v[b]! - v[a]! || a - b)
    .slice(0, k);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('EfficientNet-Lite0 (real ImageNet weights) sees a cat in chelsea through the backbone path, as PyTorch does', { skip }, async (t) => {
  assert.ok(exported, `CI: ${configPath} is missing; .ci/run must make it (${MAKE}) before npm test`);
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as BackboneConfig;
  const config: BackboneConfig = { ...raw, model: resolve(dir, raw.model) };
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
  assert.deepEqual(config.preprocess, ref.preprocess, 'backbone.json and reference.json describe the same preprocessing');
  const { resize, interpolation, mean, std } = config.preprocess;
  const photo = join(dir, ref.image);

  // Preprocessing: decode + torchvision Resize(256, bicubic) + CenterCrop(224), byte for byte PIL's.
  const img = await loadRgb(photo, resize, { interpolation });
  assert.equal(img.width, 224);
  assert.equal(img.height, 224);
  assert.equal(createHash('sha256').update(img.data).digest('hex'), ref.inputSha256, "the 224×224 crop is exactly PIL's");

  // The derived model at the feature map's native 7×7 grid.
  const bb = await Backbone.load(config, [7, 7], engine);
  assert.deepEqual(bb.nativeGrid, [7, 7]);
  assert.deepEqual(bb.rawDims, ref.featureShape);
  assert.equal(bb.featureDim, 1280);
  assert.equal(bb.numClasses, 1000);
  const { features, logits } = await bb.run(toChwNormalised(img, mean, std), 1);
  assert.ok(logits);

  const top5 = topK(logits, 5);
  t.diagnostic(`top-5 classes ${top5.join(', ')} (PyTorch: ${ref.top5.join(', ')})`);
  assert.ok(CATS.has(top5[0]!), `top-1 class ${top5[0]} is not an ImageNet cat (281–285); top-5 ${top5.join(', ')}`);
  assert.deepEqual(top5, ref.top5, 'same top-5 classes, in the same order, as PyTorch');

  const logitDiff = maxAbsDiff(logits, ref.logits);
  const G = bb.gridSize;
  const pooled = new Float64Array(1280);
  for (let g = 0; g < G; g++) for (let c = 0; c < 1280; c++) pooled[c]! += features[g * 1280 + c]! / G;
  const featureDiff = maxAbsDiff(pooled, ref.pooledFeatures);
  t.diagnostic(`max |logit − PyTorch| = ${logitDiff.toExponential(2)}, max |pooled feature − PyTorch| = ${featureDiff.toExponential(2)}`);
  assert.ok(logitDiff <= LOGIT_TOL, `logits differ from PyTorch's by up to ${logitDiff} (tol ${LOGIT_TOL})`);
  assert.ok(featureDiff <= FEATURE_TOL, `pooled features differ from PyTorch's by up to ${featureDiff} (tol ${FEATURE_TOL})`);
  assert.ok(
    features.every((v) => v >= 0 && v <= 6),
    "the feature map is the head's ReLU6 output",
  );

  // The training path (batched decoding with the config's filter) gives the very same numbers.
  const set = await extractFeatures(bb, [{ path: photo }], { batchSize: 4 });
  assert.equal(set.skipped.length, 0);
  assert.deepEqual(set.F, features);
  assert.deepEqual(set.logits, logits);
});

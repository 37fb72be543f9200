/**
 * tools/export_torchvision_backbones.py's exports (torchvision's ResNet-18, ResNet-50 and
 * ViT-B/16, pytorchcv's CUB ResNet-18) through salf-cbm's own loaders: the automatic feature
 * tensor (`src/models/feature-tensor.ts`) is the one a person would pick (ResNet: the last
 * stage's output, its final ReLU, read by global pooling; ViT:
 * the encoder's final LayerNorm tokens, CLS dropped, on the 14×14 patch grid), a preset's flags
 * on model.onnx alone give the config the script writes to backbone.json, `Backbone.load` with
 * it probes the expected shapes, and on the script's reference image salf-cbm's
 * preprocessing, features and logits equal PyTorch's within float32 rounding.
 *
 * The exports are made here with RANDOM weights (`--random`: this sandbox cannot download
 * torchvision's), so this test proves the export and loading plumbing only, not the pretrained
 * models' behaviour. It needs torch and torchvision (≈5.5 GB; pytorchcv too for resnet18_cub):
 * `.ci/run` makes them in `.venv-torchvision` and requires this test; on a developer's machine
 * without the exports it is reported as skipped, with the command that makes them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRgb, toChwNormalised } from '../../src/data/image-io.js';
import { decodeModel, readOnnxFile } from '../../src/engine/onnx-builder.js';
import { Engine } from '../../src/engine/session.js';
import { Backbone, type BackboneConfig } from '../../src/models/backbone.js';
import { findFeatureTensorInFile } from '../../src/models/feature-tensor.js';
import { IMAGENET_MEAN, IMAGENET_STD, backboneConfigFrom, readBackboneConfig } from '../../src/cli/backbone-options.js';
import { presetOptions } from '../../src/presets/index.js';
import { repoRoot } from '../helpers/paths.js';
import { skipUnlessPresent } from '../helpers/required-in-ci.js';

/** Written by the export script next to the model. */
interface Reference {
  randomWeights: boolean;
  image: string;
  preprocess: BackboneConfig['preprocess'];
  inputSha256: string;
  logits: number[];
  featureShape: number[];
  featuresFile: string;
}

interface Case {
  name: 'resnet18' | 'resnet18_cub' | 'resnet50' | 'vit_b_16';
  layout: 'nchw' | 'tokens';
  /** Op of the node that writes the feature tensor. */
  producer: string;
  rawDims: number[];
  nativeGrid: [number, number];
  featureDim: number;
  classes: number;
}

const CASES: Case[] = [
  { name: 'resnet18', layout: 'nchw', producer: 'Relu', rawDims: [512, 7, 7], nativeGrid: [7, 7], featureDim: 512, classes: 1000 },
  { name: 'resnet18_cub', layout: 'nchw', producer: 'Relu', rawDims: [512, 7, 7], nativeGrid: [7, 7], featureDim: 512, classes: 200 },
  { name: 'resnet50', layout: 'nchw', producer: 'Relu', rawDims: [2048, 7, 7], nativeGrid: [7, 7], featureDim: 2048, classes: 1000 },
  { name: 'vit_b_16', layout: 'tokens', producer: 'LayerNormalization', rawDims: [197, 768], nativeGrid: [14, 14], featureDim: 768, classes: 1000 },
];

/**
 * ONNX Runtime vs PyTorch on the same float32 input, relative to the largest reference value:
 * only kernel rounding differs (seen: ≤ 2e-6 relative; random ResNet-50 logits reach ≈67).
 */
const REL_TOL = 1e-4;

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());

function relMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
}

/** PyTorch's feature tensor (D×h×w, or T×D with CLS first) as salf-cbm lays it out: G×D, channels last. */
function channelsLast(ref: Float32Array, c: Case): Float32Array {
  if (c.layout === 'tokens') return ref.subarray(c.featureDim); // drop token 0 (CLS); tokens are row-major on the grid
  const [d, h, w] = c.rawDims as [number, number, number];
  const out = new Float32Array(d * h * w);
  for (let ch = 0; ch < d; ch++) for (let p = 0; p < h * w; p++) out[p * d + ch] = ref[ch * h * w + p]!;
  return out;
}

for (const c of CASES) {
  const dir = join(repoRoot(), '.cache', 'torchvision', c.name);
  const configPath = join(dir, 'backbone.json');
  const needs = c.name === 'resnet18_cub' ? 'torch, torchvision and pytorchcv' : 'torch and torchvision';
  const make = `.venv-torchvision/bin/python tools/export_torchvision_backbones.py ${c.name} --random --out .cache/torchvision/${c.name} (needs ${needs})`;
  const skip = skipUnlessPresent(existsSync(configPath), `no export at ${configPath}; make it with: ${make}`);

  test(`${c.name} export (random weights: plumbing only): automatic feature tensor and ONNX Runtime = PyTorch`, { skip }, async (t) => {
    const modelPath = join(dir, 'model.onnx');
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
    t.diagnostic(`weights: ${ref.randomWeights ? 'RANDOM (plumbing only)' : 'pretrained'}`);

    // The automatic choice is the script's `features` output, written by the node a person would pick.
    const choice = findFeatureTensorInFile(modelPath);
    t.diagnostic(`automatic feature tensor: ${choice.featureTensor} (${choice.reason})`);
    assert.equal(choice.featureTensor, 'features');
    assert.equal(choice.layout, c.layout);
    if (c.layout === 'tokens') assert.equal(choice.cls, 'drop');
    const nodes = decodeModel(readOnnxFile(modelPath, 'backbone model'), modelPath).graph!.node ?? [];
    const producer = nodes.find((n) => (n.output ?? []).includes('features'));
    assert.equal(producer?.opType, c.producer, `features is written by ${c.producer}`);

    // backbone.json says the same as the graph.
    const written = readBackboneConfig(configPath);
    assert.equal(written.model, modelPath);
    assert.equal(written.featureTensor, choice.featureTensor);
    assert.equal(written.layout, choice.layout);
    assert.equal(written.cls, choice.cls);
    assert.deepEqual(written.preprocess, ref.preprocess, 'backbone.json and reference.json describe the same preprocessing');

    // What a preset (model.onnx only, as `--backbone`) resolves to: the same, without the logits.
    const preset = presetOptions('imagenet-resnet50', 'train') as { inputSize: number; resize: number; crop: 'center'; interpolation: 'bilinear' };
    const fromPreset = backboneConfigFrom({
      backbone: modelPath,
      inputSize: preset.inputSize,
      resize: preset.resize,
      crop: preset.crop,
      interpolation: preset.interpolation,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
    });
    const { logitsTensor, ...writtenWithoutLogits } = written;
    assert.equal(logitsTensor, 'logits');
    assert.deepEqual(fromPreset, writtenWithoutLogits, "a preset's flags give backbone.json's config");

    const config: BackboneConfig = { ...fromPreset, logitsTensor: 'logits' };
    const bb = await Backbone.load(config, c.nativeGrid, engine);
    assert.deepEqual(bb.rawDims, c.rawDims);
    assert.deepEqual(bb.rawDims, ref.featureShape);
    assert.deepEqual(bb.nativeGrid, c.nativeGrid);
    assert.equal(bb.featureDim, c.featureDim);
    assert.equal(bb.numClasses, c.classes);

    // torchvision's Resize(256, bilinear) + CenterCrop(224), byte for byte.
    const { resize, interpolation, mean, std } = config.preprocess;
    const img = await loadRgb(join(dir, ref.image), resize, { interpolation });
    assert.equal(createHash('sha256').update(img.data).digest('hex'), ref.inputSha256, "the 224×224 crop is exactly torchvision's");

    const { features, logits } = await bb.run(toChwNormalised(img, mean, std), 1);
    assert.ok(logits);
    const refBytes = readFileSync(join(dir, ref.featuresFile));
    const refFeatures = new Float32Array(refBytes.buffer.slice(refBytes.byteOffset, refBytes.byteOffset + refBytes.byteLength));
    assert.equal(
      refFeatures.length,
      c.rawDims.reduce((a, b) => a * b, 1),
    );
    const expected = channelsLast(refFeatures, c);
    assert.equal(features.length, expected.length);
    const logitDiff = relMaxDiff(logits, ref.logits);
    const featureDiff = relMaxDiff(features, expected);
    t.diagnostic(`max |ONNX − PyTorch| / max |PyTorch|: logits ${logitDiff.toExponential(2)}, features ${featureDiff.toExponential(2)}`);
    assert.ok(logitDiff <= REL_TOL, `logits differ from PyTorch's by ${logitDiff} relative (tol ${REL_TOL})`);
    assert.ok(featureDiff <= REL_TOL, `features differ from PyTorch's by ${featureDiff} relative (tol ${REL_TOL})`);
  });
}

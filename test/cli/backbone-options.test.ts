/** The backbone flags: the feature tensor found automatically unless --feature-tensor, --layout or --cls say otherwise. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backboneConfigFrom, IMAGENET_MEAN, IMAGENET_STD } from '../../src/cli/backbone-options.js';
import { writeTinyCnn, writeTinyVit } from '../helpers/tiny-backbones.js';
import { tempDir } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';

const dir = tempDir('salf-backbone-flags-');
const cnn = writeTinyCnn(join(dir, 'cnn.onnx'));
const vit = writeTinyVit(join(dir, 'vit.onnx'));
const base = { inputSize: 32, crop: 'stretch' as const, interpolation: 'bilinear' as const, mean: IMAGENET_MEAN, std: IMAGENET_STD };

test('without --feature-tensor the tensor, layout and CLS handling come from the graph', () => {
  const c = backboneConfigFrom({ ...base, backbone: cnn.path });
  assert.deepEqual([c.featureTensor, c.layout, c.cls], ['features', 'nchw', undefined]);
  const v = backboneConfigFrom({ ...base, backbone: vit.path });
  assert.deepEqual([v.featureTensor, v.layout, v.cls], ['tokens', 'tokens', 'drop']);
});

test('--feature-tensor, --layout and --cls given explicitly override the automatic choice', () => {
  const concat = backboneConfigFrom({ ...base, backbone: vit.path, cls: 'concat' });
  assert.deepEqual([concat.featureTensor, concat.layout, concat.cls], ['tokens', 'tokens', 'concat']);
  const named = backboneConfigFrom({ ...base, backbone: cnn.path, featureTensor: 'relu3' });
  assert.deepEqual([named.featureTensor, named.layout], ['relu3', 'nchw']);
  const tokens = backboneConfigFrom({ ...base, backbone: vit.path, featureTensor: 'mixed', layout: 'tokens' });
  assert.deepEqual([tokens.featureTensor, tokens.cls], ['mixed', 'drop']);
});

test('`tensors` lists the tensors, then the automatic choice and why', () => {
  const r = runCli(['tensors', vit.path]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\ttokens\n/);
  assert.match(r.stdout, /# feature tensor \(automatic\): tokens, layout tokens, cls drop: input of Gather node .* takes token 0 \(the CLS token\)/);
});

const flags = { layout: 'nchw', cls: 'drop', inputSize: 224, crop: 'center', interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1] } as const;

test("--backbone-config resolves a relative model path against the JSON file's folder, not the working folder", () => {
  const root = tempDir('salf-backbone-config-');
  mkdirSync(join(root, 'models'));
  const file = join(root, 'models', 'backbone.json');
  const preprocess = { resize: { size: 64, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  writeFileSync(file, JSON.stringify({ model: 'cnn.onnx', featureTensor: 'f', layout: 'nchw', preprocess }));
  const config = backboneConfigFrom({ ...flags, mean: [0, 0, 0], std: [1, 1, 1], backboneConfig: file });
  assert.equal(config.model, join(root, 'models', 'cnn.onnx'));
  assert.deepEqual(config.preprocess, preprocess);
  writeFileSync(file, JSON.stringify({ model: '/abs/cnn.onnx', featureTensor: 'f', layout: 'nchw', preprocess }));
  assert.equal(backboneConfigFrom({ ...flags, mean: [0, 0, 0], std: [1, 1, 1], backboneConfig: file }).model, '/abs/cnn.onnx');
  writeFileSync(file, JSON.stringify({ featureTensor: 'f' }));
  assert.throws(
    () => backboneConfigFrom({ ...flags, mean: [0, 0, 0], std: [1, 1, 1], backboneConfig: file }),
    /backbone\.json: a backbone config needs "model"/,
  );
  writeFileSync(file, '{ not json');
  assert.throws(() => backboneConfigFrom({ ...flags, mean: [0, 0, 0], std: [1, 1, 1], backboneConfig: file }), /backbone\.json: invalid JSON/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backboneConfigFrom } from '../../src/cli/backbone-options.js';
import { tempDir } from '../helpers/paths.js';

const flags = { layout: 'nchw', cls: 'drop', inputSize: 224, crop: 'center', interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1] } as const;

test('--backbone-config resolves a relative model path against the JSON file\'s folder, not the working folder', () => {
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
  assert.throws(() => backboneConfigFrom({ ...flags, mean: [0, 0, 0], std: [1, 1, 1], backboneConfig: file }), /backbone\.json: a backbone config needs "model"/);
  writeFileSync(file, '{ not json');
  assert.throws(() => backboneConfigFrom({ ...flags, mean: [0, 0, 0], std: [1, 1, 1], backboneConfig: file }), /backbone\.json: invalid JSON/);
});

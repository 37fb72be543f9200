/** The backbone flags: the feature tensor found automatically unless --feature-tensor, --layout or --cls say otherwise. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
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

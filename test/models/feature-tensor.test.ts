/**
 * The automatic feature tensor: on the tiny CNN and ViT the tests build, a random ResNet-18 with
 * torchvision's architecture, small graphs in the other export styles (ReduceMean, AveragePool +
 * Flatten, Slice of the CLS token, a token mean), and the real EfficientNet-Lite0 export, the
 * choice is the tensor a person would pick, and it loads as a backbone with the expected shape.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, attr } from '../../src/engine/onnx-builder.js';
import { Engine } from '../../src/engine/session.js';
import { Backbone } from '../../src/models/backbone.js';
import { findFeatureTensorInFile } from '../../src/models/feature-tensor.js';
import { writeRandomResNet } from '../../bench/random-resnet.js';
import { writeTinyCnn, writeTinyVit } from '../helpers/tiny-backbones.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { skipUnlessPresent } from '../helpers/required-in-ci.js';

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());
const dir = tempDir('salf-feature-tensor-');
const preprocess = (size: number) => ({
  resize: { size, mode: 'stretch' as const },
  mean: [0.5, 0.5, 0.5] as [number, number, number],
  std: [0.25, 0.25, 0.25] as [number, number, number],
});

test('tiny CNN: the ReLU output read by GlobalAveragePool, loaded at its native 4×4 grid', async () => {
  const cnn = writeTinyCnn(join(dir, 'cnn.onnx'));
  const choice = findFeatureTensorInFile(cnn.path);
  assert.equal(choice.featureTensor, 'features');
  assert.equal(choice.layout, 'nchw');
  assert.equal(choice.node.op, 'GlobalAveragePool');
  assert.match(choice.reason, /GlobalAveragePool/);
  const bb = await Backbone.load(
    { model: cnn.path, featureTensor: choice.featureTensor, layout: choice.layout, preprocess: preprocess(cnn.size) },
    [4, 4],
    engine,
  );
  assert.deepEqual(bb.rawDims, cnn.featureDims);
});

test('tiny ViT: the token tensor whose token 0 the classifier gathers, CLS dropped, on a 4×4 patch grid', async () => {
  const vit = writeTinyVit(join(dir, 'vit.onnx'));
  const choice = findFeatureTensorInFile(vit.path);
  assert.equal(choice.featureTensor, 'tokens');
  assert.equal(choice.layout, 'tokens');
  assert.equal(choice.cls, 'drop');
  assert.equal(choice.node.op, 'Gather');
  const bb = await Backbone.load(
    { model: vit.path, featureTensor: choice.featureTensor, layout: choice.layout, cls: choice.cls, preprocess: preprocess(vit.size) },
    [4, 4],
    engine,
  );
  assert.deepEqual(bb.nativeGrid, [4, 4]);
  assert.equal(bb.featureDim, 16);
});

test('random ResNet-18 (torchvision architecture): the last stage output, not the stem MaxPool input', () => {
  const resnet = writeRandomResNet(join(dir, 'resnet18.onnx'), 'resnet18', 64, 10);
  const choice = findFeatureTensorInFile(resnet.path);
  assert.equal(choice.featureTensor, resnet.featureTensor);
  assert.equal(choice.layout, 'nchw');
});

/** A CNN trunk (one strided conv + ReLU, `fmap`, N×4×4×4 at 16 px) followed by `head`. */
function cnnWithHead(name: string, head: (b: GraphBuilder, fmap: string) => string): string {
  const b = new GraphBuilder(name, 13);
  const x = b.input('pixels', 'float32', ['N', 3, 16, 16]);
  const conv = b.op('Conv', [x, b.constF32(new Float32Array(4 * 3 * 16).fill(0.1), [4, 3, 4, 4])], {
    kernel_shape: attr.ints([4, 4]),
    strides: attr.ints([4, 4]),
  });
  const fmap = b.op('Relu', [conv], {}, 'fmap');
  b.output(head(b, fmap));
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, b.toBytes());
  return path;
}

test('other CNN export styles: ReduceMean over H,W and AveragePool followed by Flatten', () => {
  const reduce = cnnWithHead('reduce', (b, f) => b.op('ReduceMean', [f], { axes: attr.ints([2, 3]), keepdims: attr.i(0) }, 'pooled'));
  assert.equal(findFeatureTensorInFile(reduce).featureTensor, 'fmap');
  const avg = cnnWithHead('avgpool', (b, f) => b.op('Flatten', [b.op('AveragePool', [f], { kernel_shape: attr.ints([4, 4]) })], { axis: attr.i(1) }, 'flat'));
  const choice = findFeatureTensorInFile(avg);
  assert.equal(choice.featureTensor, 'fmap');
  assert.equal(choice.node.op, 'AveragePool');
  // A ReduceMax over H alone is no global pooling, and a graph with none is refused clearly.
  const rows = cnnWithHead('row-max', (b, f) => b.op('ReduceMax', [f], { axes: attr.ints([2]), keepdims: attr.i(1) }, 'row_max'));
  assert.throws(
    () => findFeatureTensorInFile(rows),
    (err: Error) => err.message.includes('row-max.onnx') && err.message.includes('--feature-tensor'),
  );
});

/** A ViT-shaped token graph: N×T×D `seq` (T = 5, D = 4) from the pixels, then `head`. */
function tokensWithHead(name: string, head: (b: GraphBuilder, seq: string) => string): string {
  const b = new GraphBuilder(name, 13);
  const x = b.input('pixels', 'float32', ['N', 3, 16, 16]);
  const pe = b.op('Conv', [x, b.constF32(new Float32Array(4 * 3 * 64).fill(0.01), [4, 3, 8, 8])], {
    kernel_shape: attr.ints([8, 8]),
    strides: attr.ints([8, 8]),
  });
  const tok = b.op('Transpose', [b.op('Reshape', [pe, b.constI64([0, 4, -1])])], { perm: attr.ints([0, 2, 1]) });
  const seq = b.op('Concat', [b.op('Slice', [tok, b.constI64([0]), b.constI64([1]), b.constI64([1])]), tok], { axis: attr.i(1) }, 'last_hidden_state');
  b.output(head(b, seq));
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, b.toBytes());
  return path;
}

test('other ViT export styles: the CLS token sliced (Hugging Face style), or the tokens averaged', () => {
  const sliced = tokensWithHead('hf-vit', (b, s) =>
    b.op('Squeeze', [b.op('Slice', [s, b.constI64([0]), b.constI64([1]), b.constI64([1])]), b.constI64([1])], {}, 'pooled'),
  );
  const choice = findFeatureTensorInFile(sliced);
  assert.equal(choice.featureTensor, 'last_hidden_state');
  assert.deepEqual([choice.layout, choice.cls, choice.node.op], ['tokens', 'drop', 'Slice']);
  const mean = tokensWithHead('mean-vit', (b, s) => b.op('ReduceMean', [s, b.constI64([1])], { keepdims: attr.i(0) }, 'pooled'));
  const m = findFeatureTensorInFile(mean);
  assert.deepEqual([m.featureTensor, m.layout, m.cls], ['last_hidden_state', 'tokens', 'none']);
});

const effDir = join(repoRoot(), '.cache', 'efficientnet-lite0');
const effModel = join(effDir, 'model.onnx');
const skip = skipUnlessPresent(
  existsSync(join(effDir, 'backbone.json')),
  `no export at ${effDir}; make it with: .venv/bin/python tools/export_efficientnet_lite0.py`,
);

test("EfficientNet-Lite0 (real export): the head's ReLU6 map `features`, N×1280×7×7, the one its backbone.json names", { skip }, async () => {
  assert.ok(existsSync(effModel), `CI: ${effModel} is missing; .ci/run must make it before npm test`);
  const choice = findFeatureTensorInFile(effModel);
  assert.equal(choice.featureTensor, 'features');
  assert.equal(choice.layout, 'nchw');
  const bb = await Backbone.load({ model: effModel, featureTensor: choice.featureTensor, layout: choice.layout, preprocess: preprocess(224) }, [7, 7], engine);
  assert.deepEqual(bb.rawDims, [1280, 7, 7]);
});

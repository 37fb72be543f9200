/**
 * Single-file export: the exported ONNX model computes what the library computes (to 1e-4) on
 * CNN and ViT backbones, for every pooling and for backbones of old and new opsets, in
 * onnxruntime-node and onnxruntime-web (WASM, in Node); it carries its description; bad files
 * fail clearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import type onnxProto from 'onnx-proto';
import { GraphBuilder, attr, decodeModel, encodeModel } from '../../src/engine/onnx-builder.js';
import { HEAD_TENSORS } from '../../src/models/salf-head.js';
import { conceptModelFromSalf } from '../../src/models/concept-model.js';
import { exportSalfCbm, sidecarPath } from '../../src/models/export.js';
import { ExportedSalfCbm, compareForward } from '../../src/models/exported.js';
import { SalfCbm, type SalfCbmConfig } from '../../src/models/salf-cbm.js';
import type { Pooling } from '../../src/models/salf-head.js';
import type { BackboneConfig } from '../../src/models/backbone.js';
import { writeTinyCnn, writeTinyVit } from '../helpers/tiny-backbones.js';
import { tempDir } from '../helpers/paths.js';

ortWeb.env.wasm.numThreads = 1;
const root = tempDir('salf-export-');

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

function randomModel(backbone: BackboneConfig, D: number, pooling: Pooling, grid: [number, number] = [3, 3]): SalfCbm {
  const r = rand(5);
  const M = 5;
  const L = 3;
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, r);
  const config: SalfCbmConfig = {
    format: 'salf-cbm',
    version: 1,
    backbone,
    clip: { source: 'test', id: 'tiny' },
    grid,
    prompting: { radius: 8, placement: 'inside' },
    pooling,
    finalLayer: { mode: 'dense', nec: M, nonZeros: L * M },
    featureDim: D,
  };
  return new SalfCbm(config, ['red', 'blue', 'green', 'striped', 'round'], ['x', 'y', 'z'], {
    conceptWeight: fill(M * D),
    mean: fill(M),
    std: Float32Array.from({ length: M }, () => 0.5 + Math.abs(r())),
    finalWeight: fill(L * M),
    finalBias: fill(L),
  });
}

const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 2 });
const cnnConfig: BackboneConfig = {
  model: cnn.path,
  featureTensor: cnn.featureTensor,
  layout: 'nchw',
  preprocess: { resize: { size: 64, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
};

/** Runs the exported file in onnxruntime-web and compares with the library's forward pass. */
async function webDifference(model: SalfCbm, onnxPath: string, inputName: string): Promise<number> {
  const S = model.config.backbone.preprocess.resize.size;
  const r = rand(9);
  const pixels = Float32Array.from({ length: 2 * 3 * S * S }, () => 2 * r());
  const lib = await conceptModelFromSalf(model).forwardPixels(pixels, 2);
  const session = await ortWeb.InferenceSession.create(readFileSync(onnxPath), { executionProviders: ['wasm'] });
  const out = await session.run({ [inputName]: new ortWeb.Tensor('float32', pixels, [2, 3, S, S]) });
  await session.release();
  let worst = 0;
  for (const [name, ref] of [
    ['logits', lib.logits],
    ['concept_maps', lib.conceptMaps],
    ['concept_activations', lib.activations],
  ] as const) {
    const got = out[name]!.data as Float32Array;
    assert.equal(got.length, ref.length, name);
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
  }
  return worst;
}

for (const pooling of ['mean', 'max', 'softmax'] as const) {
  test(`a CNN export matches the library's forward pass to 1e-4 in onnxruntime-node and -web (${pooling} pooling)`, async () => {
    const model = randomModel(cnnConfig, 32, pooling);
    const path = join(root, `cnn-${pooling}.onnx`);
    const res = await exportSalfCbm(model, path);
    assert.deepEqual(res.warnings, []);
    const exported = await ExportedSalfCbm.load(path);
    const d = await compareForward(conceptModelFromSalf(model), exported, 3);
    for (const [k, v] of Object.entries(d)) assert.ok(v <= 1e-4, `${k}: ${v}`);
    assert.ok((await webDifference(model, path, cnn.inputName)) <= 1e-4);
    // The backbone's own output "logits" was renamed; "logits" is now the SALF-CBM's (L = 3, not 2).
    const proto = decodeModel(readFileSync(path));
    assert.deepEqual(
      proto.graph!.output!.map((o) => o.name),
      ['logits', 'concept_maps', 'concept_activations', 'concept_standardised'],
    );
    assert.equal(Number(proto.graph!.output![0]!.type!.tensorType!.shape!.dim![1]!.dimValue), 3);
  });
}

test('a ViT export (CLS token concatenated, 4×4 patches resized to a 3×3 grid) matches too', async () => {
  const vit = writeTinyVit(join(root, 'vit.onnx'), { size: 32, patch: 8, dim: 16 });
  const config: BackboneConfig = {
    model: vit.path,
    featureTensor: vit.featureTensor,
    layout: 'tokens',
    cls: 'concat',
    preprocess: { resize: { size: 32, mode: 'stretch' }, mean: [0, 0, 0], std: [1, 1, 1] },
  };
  const model = randomModel(config, 32, 'softmax');
  const path = join(root, 'vit.onnx.out');
  await exportSalfCbm(model, path);
  const exported = await ExportedSalfCbm.load(path);
  assert.equal(sidecarPath(path), `${path}.json`);
  const d = await compareForward(conceptModelFromSalf(model), exported, 2);
  assert.ok(Math.max(...Object.values(d)) <= 1e-4, JSON.stringify(d));
  assert.ok((await webDifference(model, path, vit.inputName)) <= 1e-4);
});

/** A block-pooling backbone written at a chosen opset. */
function poolBackbone(path: string, opset: number): BackboneConfig {
  const b = new GraphBuilder('pool_backbone', opset);
  const x = b.input('image', 'float32', ['N', 3, 32, 32]);
  // ONNX Runtime implements AveragePool from version 7 on; MaxPool also at version 1.
  b.output(b.op(opset < 7 ? 'MaxPool' : 'AveragePool', [x], { kernel_shape: attr.ints([8, 8]), strides: attr.ints([8, 8]) }, 'features'), 'float32', [
    'N',
    3,
    4,
    4,
  ]);
  writeFileSync(path, b.toBytes());
  return { model: path, featureTensor: 'features', layout: 'nchw', preprocess: { resize: { size: 32, mode: 'stretch' }, mean: [0, 0, 0], std: [1, 1, 1] } };
}

test("the head is written in the backbone's own opset: 18 (Reduce axes as inputs) and 6 (raised to 7, with a warning)", async () => {
  for (const opset of [18, 6]) {
    for (const pooling of ['mean', 'max', 'softmax'] as const) {
      const model = randomModel(poolBackbone(join(root, `pool-${opset}.onnx`), opset), 3, pooling, [2, 2]);
      const path = join(root, `pool-${opset}-${pooling}.onnx`);
      const res = await exportSalfCbm(model, path);
      assert.equal(res.info.opset, Math.max(opset, 7));
      if (opset < 7) assert.match(res.warnings.join(), /opset 6 raised to 7/);
      else assert.deepEqual(res.warnings, []);
      const d = await compareForward(conceptModelFromSalf(model), await ExportedSalfCbm.load(path), 2);
      assert.ok(Math.max(...Object.values(d)) <= 1e-4, `opset ${opset} ${pooling}: ${JSON.stringify(d)}`);
    }
  }
});

test('the export carries its description (sidecar and metadata) and its classifier weights', async () => {
  const model = randomModel(cnnConfig, 32, 'mean');
  const path = join(root, 'described.onnx');
  const res = await exportSalfCbm(model, path);
  const side = JSON.parse(readFileSync(join(root, 'described.json'), 'utf8'));
  assert.equal(side.format, 'salf-cbm-onnx');
  assert.deepEqual(side.concepts, model.concepts);
  assert.deepEqual(side.classes, model.classes);
  assert.deepEqual(side.input, { name: 'pixels', shape: ['N', 3, 64, 64], dtype: 'float32', layout: 'NCHW', channels: 'RGB' });
  assert.deepEqual(side.preprocess.mean, [0.5, 0.5, 0.5]);
  assert.equal(side.preprocess.scale, 1 / 255);
  assert.deepEqual(side.outputs.concept_maps, ['N', 5, 3, 3]);
  assert.equal(res.info.model, 'described.onnx');
  // Without the sidecar the metadata copy is used; the weights come from the model itself.
  rmSync(join(root, 'described.json'));
  const alone = await ExportedSalfCbm.load(path);
  assert.deepEqual(alone.concepts, model.concepts);
  assert.deepEqual(Array.from(alone.head.finalWeight), Array.from(model.weights.finalWeight));
  assert.deepEqual(Array.from(alone.head.std), Array.from(model.weights.std));
});

test('bad files fail with messages naming them', async () => {
  const text = join(root, 'notes.onnx');
  writeFileSync(text, 'this is not a model\n');
  await assert.rejects(ExportedSalfCbm.load(text), /notes\.onnx: not an ONNX model/);
  await assert.rejects(ExportedSalfCbm.load(cnn.path), /cnn\.onnx: an ONNX model, but not a SALF-CBM export/);
  await assert.rejects(ExportedSalfCbm.load(join(root, 'absent.onnx')), /absent\.onnx: exported model file not found/);
  writeFileSync(join(root, 'bad-side.onnx'), readFileSync(join(root, 'cnn-mean.onnx')));
  writeFileSync(join(root, 'bad-side.json'), '{"format": "other"}');
  await assert.rejects(ExportedSalfCbm.load(join(root, 'bad-side.onnx')), /bad-side\.json: not a SALF-CBM export description/);
  const broken = randomModel({ ...cnnConfig, model: text }, 32, 'mean');
  await assert.rejects(exportSalfCbm(broken, join(root, 'never.onnx')), /notes\.onnx: not an ONNX model/);
});

test('an export with non-finite or swapped-shape classifier tensors, or a sidecar that is not UTF-8, is refused naming it', async () => {
  const model = randomModel(cnnConfig, 32, 'mean');
  const path = join(root, 'checked.onnx');
  await exportSalfCbm(model, path);
  const original = readFileSync(path);
  const edit = (name: string, change: (t: onnxProto.onnx.ITensorProto) => void): void => {
    const proto = decodeModel(original, path);
    change(proto.graph!.initializer!.find((i) => i.name === name)!);
    writeFileSync(path, encodeModel(proto));
  };
  const nan = (t: onnxProto.onnx.ITensorProto): void => {
    const values = t.rawData && t.rawData.length > 0 ? new Float32Array(Uint8Array.from(t.rawData).buffer) : Float32Array.from(t.floatData ?? []);
    values[1] = Number.NaN;
    t.rawData = new Uint8Array(values.buffer);
    t.floatData = [];
  };
  edit(HEAD_TENSORS.finalWeight, nan);
  await assert.rejects(ExportedSalfCbm.load(path), /checked\.onnx: initializer salf_head_final_weight holds NaN at index 1/);
  edit(HEAD_TENSORS.finalWeight, (t) => void (t.dims = [...t.dims!].reverse()));
  await assert.rejects(ExportedSalfCbm.load(path), /checked\.onnx: initializer salf_head_final_weight has shape \[5, 3\], expected \[3, 5\]/);
  writeFileSync(path, original);
  const side = sidecarPath(path);
  writeFileSync(side, Buffer.concat([readFileSync(side), Buffer.from('\n'), Buffer.from([0xe9])]));
  await assert.rejects(ExportedSalfCbm.load(path), /checked\.json:\d+: not valid UTF-8/);
});

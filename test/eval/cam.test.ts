/**
 * CAM and Score-CAM on tiny random-weight CNNs (plumbing and exact identities, not meaning):
 * the head read from the ONNX graph reproduces the model's logits through the CAM identity
 * mean(CAM_c) + b_c = logit_c, for Gemm and MatMul+Add heads; heads that are not a linear layer
 * on pooled features are refused clearly; Score-CAM equals a direct per-channel implementation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, attr } from '../../src/engine/onnx-builder.js';
import { Engine } from '../../src/engine/session.js';
import type { BackboneConfig } from '../../src/models/backbone.js';
import { bilinearMatrix } from '../../src/models/backbone.js';
import { writeSafetensors } from '../../src/models/safetensors.js';
import { allClassMaps, camOf, headLogits, logitsFromClassMaps, readHeadFile } from '../../src/eval/cam.js';
import { backboneHead, globalAverage, loadNativeBackbone, scoreCamModel } from '../../src/eval/native-backbone.js';
import { scoreCam } from '../../src/eval/score-cam.js';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';
import { tempDir } from '../helpers/paths.js';

const engine = new Engine({ threads: 1 });

function config(path: string, logitsTensor: string | undefined, size = 64): BackboneConfig {
  return {
    model: path,
    featureTensor: 'features',
    layout: 'nchw',
    ...(logitsTensor ? { logitsTensor } : {}),
    preprocess: { resize: { size, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  };
}

function randomPixels(n: number, size: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 3 * size * size }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s / 2 ** 32) * 4 - 2;
  });
}

/** A 16 px CNN whose head is ReduceMean(axes 2,3) → MatMul → Add (as some exporters write nn.Linear). */
function writeMatMulHeadCnn(path: string, pooling: 'mean' | 'flatten'): void {
  const b = new GraphBuilder('matmul_head');
  const x = b.input('pixels', 'float32', ['N', 3, 16, 16]);
  const w = b.constF32(
    Float32Array.from({ length: 6 * 3 * 9 }, (_, i) => Math.sin(i * 1.7) * 0.5),
    [6, 3, 3, 3],
  );
  const f = b.op(
    'Relu',
    [b.op('Conv', [x, w], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([4, 4]), pads: attr.ints([1, 1, 1, 1]) })],
    {},
    'features',
  ); // N×6×4×4
  const pooled = pooling === 'mean' ? b.op('ReduceMean', [f], { axes: attr.ints([2, 3]), keepdims: attr.i(0) }) : b.op('Flatten', [f], { axis: attr.i(1) });
  const D = pooling === 'mean' ? 6 : 96;
  const W = b.constF32(
    Float32Array.from({ length: D * 3 }, (_, i) => Math.cos(i * 0.9)),
    [D, 3],
  );
  const logits = b.op('Add', [b.op('MatMul', [pooled, W]), b.constF32([0.1, -0.2, 0.3], [3])], {}, 'logits');
  b.output(logits, 'float32', ['N', 3]);
  writeFileSync(path, b.toBytes());
}

test('the Gemm head read from the ONNX graph gives the model logits through CAM (mean CAM + b = logit)', async () => {
  const dir = tempDir('salf-cam-');
  const cnn = writeTinyCnn(join(dir, 'cnn.onnx'), { size: 64, classes: 5, seed: 3 });
  const backbone = await loadNativeBackbone(config(cnn.path, 'logits'), engine, [7, 7]);
  assert.deepEqual(backbone.grid, [4, 4], 'loaded on the feature map’s own grid');
  const head = backboneHead(backbone);
  assert.equal(head.L, 5);
  assert.equal(head.D, 32);
  const n = 3;
  const px = randomPixels(n, 64, 7);
  const out = await backbone.run(px, n);
  const maps = await allClassMaps(engine, head, out.features, n, 16);
  const fromCam = logitsFromClassMaps(head, maps, n, 16);
  const fromHead = await headLogits(engine, head, globalAverage(out.features, n, 16, 32), n);
  for (let i = 0; i < n * 5; i++) {
    assert.ok(Math.abs(fromCam[i]! - out.logits![i]!) < 1e-4, `CAM identity at ${i}: ${fromCam[i]} vs ${out.logits![i]}`);
    assert.ok(Math.abs(fromHead[i]! - out.logits![i]!) < 1e-4, `head logits at ${i}`);
  }
  const cam = camOf(maps, 1, 16, 5, 2, true);
  assert.ok(cam.every((v) => v >= 0));
  assert.deepEqual(
    Array.from(camOf(maps, 1, 16, 5, 2, false)).map((v) => Math.max(0, v)),
    Array.from(cam),
  );

  // The same head from a safetensors file.
  const file = join(dir, 'head.safetensors');
  writeSafetensors(file, { weight: { data: head.weight, shape: [5, 32] }, bias: { data: head.bias, shape: [5] } });
  const again = readHeadFile(file);
  assert.deepEqual(Array.from(again.weight), Array.from(head.weight));
  assert.equal(backboneHead(backbone, file).source, file);
});

test('MatMul + Add heads after ReduceMean are read; a head on flattened (not pooled) features is refused', async () => {
  const dir = tempDir('salf-cam-');
  const good = join(dir, 'mean.onnx');
  writeMatMulHeadCnn(good, 'mean');
  const backbone = await loadNativeBackbone(config(good, 'logits', 16), engine, [4, 4]);
  const head = backboneHead(backbone);
  assert.deepEqual([head.L, head.D], [3, 6]);
  const px = randomPixels(2, 16, 11);
  const out = await backbone.run(px, 2);
  const fromCam = logitsFromClassMaps(head, await allClassMaps(engine, head, out.features, 2, 16), 2, 16);
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(fromCam[i]! - out.logits![i]!) < 1e-4);

  const bad = join(dir, 'flatten.onnx');
  writeMatMulHeadCnn(bad, 'flatten');
  const other = await loadNativeBackbone(config(bad, 'logits', 16), engine, [4, 4]);
  assert.throws(
    () => backboneHead(other),
    /flatten\.onnx: cannot read a CAM head: the linear layer's input comes from a Flatten|not GlobalAveragePool or ReduceMean/,
  );
  const noLogits = await loadNativeBackbone(config(good, undefined, 16), engine, [4, 4]);
  assert.throws(() => backboneHead(noLogits), /name the logits tensor/);
});

test('Score-CAM equals a direct per-channel implementation (upsample, min–max, mask, softmax, weighted sum, ReLU)', async () => {
  const dir = tempDir('salf-scorecam-');
  const cnn = writeTinyCnn(join(dir, 'cnn.onnx'), { size: 32, classes: 4, seed: 5 });
  const backbone = await loadNativeBackbone(config(cnn.path, 'logits', 32), engine, [2, 2]);
  const [h, w] = backbone.nativeGrid;
  const D = backbone.featureDim;
  const S = 32;
  const px = randomPixels(1, S, 3);
  const { features } = await backbone.run(px, 1);
  const model = scoreCamModel(engine, backbone, undefined);
  const target = 2;
  const got = await scoreCam(engine, model, px, features, [h, w], D, target, { batch: 5 });

  // Direct: one masked forward pass per non-constant channel, maps at full resolution.
  const rh = bilinearMatrix(h, S);
  const rw = bilinearMatrix(w, S);
  const want = new Float64Array(S * S);
  let used = 0;
  for (let d = 0; d < D; d++) {
    const up = new Float64Array(S * S);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        let v = 0;
        for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) v += rh[y * h + i]! * rw[x * w + j]! * features[(i * w + j) * D + d]!;
        up[y * S + x] = v;
      }
    const lo = Math.min(...up);
    const hi = Math.max(...up);
    if (!(hi > lo)) continue;
    used++;
    const masked = new Float32Array(3 * S * S);
    for (let c = 0; c < 3; c++) for (let p = 0; p < S * S; p++) masked[c * S * S + p] = px[c * S * S + p]! * ((up[p]! - lo) / (hi - lo));
    const z = (await backbone.run(masked, 1)).logits!;
    const e = Array.from(z, (v) => Math.exp(v - Math.max(...z)));
    const s = e[target]! / e.reduce((a, b) => a + b, 0);
    for (let p = 0; p < S * S; p++) want[p]! += s * up[p]!;
  }
  assert.ok(used > 0 && used <= D);
  let maxAbs = 0;
  for (let p = 0; p < S * S; p++) maxAbs = Math.max(maxAbs, Math.abs(Math.max(0, want[p]!) - got[p]!));
  const scale = Math.max(...want.map(Math.abs));
  assert.ok(maxAbs <= 1e-4 * Math.max(1, scale), `max difference ${maxAbs} (scale ${scale})`);
  assert.ok(
    got.some((v) => v > 0),
    'the map is not all zero',
  );
  await assert.rejects(scoreCam(engine, model, px, features, [h, w], D, 9), /target class 9 is outside \[0, 4\)/);
});

test('camOf picks one class and image from the all-class maps; ReLU (Grad-CAM) or plain CAM', () => {
  // 2 images × 3 positions × 2 classes, laid out (image, position, class).
  const maps = Float32Array.from([1, -1, -2, 2, 3, -3, /* image 1 */ -4, 4, 5, -5, 6, 6]);
  assert.deepEqual(Array.from(camOf(maps, 0, 3, 2, 0)), [1, 0, 3]);
  assert.deepEqual(Array.from(camOf(maps, 0, 3, 2, 0, false)), [1, -2, 3]);
  assert.deepEqual(Array.from(camOf(maps, 1, 3, 2, 1)), [4, 0, 6]);
});

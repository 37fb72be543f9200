import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { decodeSafetensors, encodeSafetensors, readSafetensors } from '../../src/models/safetensors.js';
import type { Pooling } from '../../src/models/salf-head.js';
import { fixturePath, tempDir } from '../helpers/paths.js';
import { tinySalfConfig } from '../helpers/tiny-salf-config.js';

/** A seeded uniform generator in [-1, 1). */
function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}
const fill = (n: number, r: () => number): Float32Array => Float32Array.from({ length: n }, r);

function makeModel(pooling: Pooling, D = 5, M = 4, L = 3, grid: [number, number] = [2, 3]): SalfCbm {
  const r = rand(7);
  const config = tinySalfConfig(D, M, L, { pooling, grid });
  return new SalfCbm(config, ['a', 'b', 'c', 'd'].slice(0, M), ['x', 'y', 'z'].slice(0, L), {
    conceptWeight: fill(M * D, r),
    mean: fill(M, r),
    std: Float32Array.from({ length: M }, () => 0.5 + Math.abs(r())),
    finalWeight: fill(L * M, r),
    finalBias: fill(L, r),
  });
}

/** The head computed directly from SPEC's equations in float64. */
function reference(model: SalfCbm, F: Float32Array, n: number) {
  const { D, M, L, grid } = model.shape;
  const G = grid[0] * grid[1];
  const w = model.weights;
  const maps = new Float64Array(n * M * G);
  const logits = new Float64Array(n * L);
  for (let i = 0; i < n; i++) {
    const std = new Float64Array(M);
    for (let m = 0; m < M; m++) {
      const col: number[] = [];
      for (let g = 0; g < G; g++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += w.conceptWeight[m * D + d]! * F[(i * G + g) * D + d]!;
        maps[(i * M + m) * G + g] = s;
        col.push(s);
      }
      let pooled: number;
      if (model.config.pooling === 'mean') pooled = col.reduce((a, b) => a + b, 0) / G;
      else if (model.config.pooling === 'max') pooled = Math.max(...col);
      else {
        const mx = Math.max(...col);
        const e = col.map((v) => Math.exp(v - mx));
        const z = e.reduce((a, b) => a + b, 0);
        pooled = col.reduce((a, v, k) => a + (v * e[k]!) / z, 0);
      }
      std[m] = (pooled - w.mean[m]!) / w.std[m]!;
    }
    for (let l = 0; l < L; l++) {
      let s = w.finalBias[l]!;
      for (let m = 0; m < M; m++) s += w.finalWeight[l * M + m]! * std[m]!;
      logits[i * L + l] = s;
    }
  }
  return { maps, logits };
}

for (const pooling of ['mean', 'max', 'softmax'] as const) {
  test(`forward pass (${pooling} pooling) matches SPEC's equations computed in float64`, async () => {
    const model = makeModel(pooling);
    const n = 3;
    const { D, grid } = model.shape;
    const F = fill(n * grid[0] * grid[1] * D, rand(11));
    const out = await model.forwardFeatures(F, n);
    const ref = reference(model, F, n);
    assert.equal(out.conceptMaps.length, ref.maps.length);
    for (let i = 0; i < ref.maps.length; i++) assert.ok(Math.abs(out.conceptMaps[i]! - ref.maps[i]!) < 1e-5, `map ${i}`);
    for (let i = 0; i < ref.logits.length; i++) assert.ok(Math.abs(out.logits[i]! - ref.logits[i]!) < 1e-4, `logit ${i}`);
  });
}

test('save and load round-trip the model exactly, and saved weights are safetensors', async () => {
  const model = makeModel('softmax');
  const dir = tempDir();
  model.save(dir, { accuracy: 1 });
  for (const f of ['config.json', 'concepts.json', 'classes.json', 'weights.safetensors', 'metrics.json']) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  const loaded = SalfCbm.load(dir);
  assert.deepEqual(loaded.concepts, model.concepts);
  assert.deepEqual(loaded.config, model.config);
  assert.deepEqual(Array.from(loaded.weights.finalWeight), Array.from(model.weights.finalWeight));
  const { tensors } = readSafetensors(join(dir, 'weights.safetensors'));
  assert.deepEqual(tensors['concept_layer.weight']!.shape, [4, 5]);
  const F = fill(2 * 6 * 5, rand(3));
  const [a, b] = [await model.forwardFeatures(F, 2), await loaded.forwardFeatures(F, 2)];
  assert.deepEqual(Array.from(a.logits), Array.from(b.logits));
});

test('safetensors written by the reference Python package are read correctly', () => {
  const { tensors, metadata } = readSafetensors(fixturePath('golden.safetensors'));
  assert.equal(metadata.format, 'salf-cbm');
  assert.deepEqual(tensors['concept_layer.weight']!.shape, [2, 3]);
  assert.deepEqual(Array.from(tensors['concept_layer.weight']!.data), [0, 0.25, 0.5, 0.75, 1, 1.25]);
  assert.deepEqual(Array.from(tensors['final_layer.bias']!.data), [-1.5, 2.25]);
});

test('safetensors encoding aligns the header and rejects inconsistent data', () => {
  const bytes = encodeSafetensors({ w: { data: Float32Array.from([1, 2, 3]), shape: [3] } });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0);
  assert.deepEqual(Array.from(decodeSafetensors(bytes).tensors.w!.data), [1, 2, 3]);
  assert.throws(() => encodeSafetensors({ w: { data: new Float32Array(2), shape: [3] } }), /2 values for shape \[3\]/);
  assert.throws(() => decodeSafetensors(new Uint8Array(4), 'x.safetensors'), /x\.safetensors: not a safetensors file/);
});

test('bad inputs give clear errors', async () => {
  assert.throws(() => makeModel('mean', 5, 0), /concept list is empty/);
  const model = makeModel('mean');
  await assert.rejects(model.forwardFeatures(new Float32Array(7), 1), /expected n×G×D/);
  assert.throws(() => SalfCbm.load(tempDir()), /not a SALF-CBM model directory/);
});

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, decodeModel, encodeModel } from '../../src/engine/onnx-builder.js';
import { Engine, f32, dataF32 } from '../../src/engine/session.js';
import { exposeTensors } from '../../src/engine/surgery.js';
import { Backbone, bilinearMatrix, FEATURES_OUTPUT, LOGITS_OUTPUT, type BackboneConfig } from '../../src/models/backbone.js';
import { writeTinyCnn, writeTinyVit, type TinyModelInfo } from '../helpers/tiny-backbones.js';
import { fixturePath, tempDir } from '../helpers/paths.js';

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());
const dir = tempDir();
const cnn = writeTinyCnn(join(dir, 'cnn.onnx'));
const vit = writeTinyVit(join(dir, 'vit.onnx'));

function config(m: TinyModelInfo, extra: Partial<BackboneConfig> = {}): BackboneConfig {
  return {
    model: m.path,
    featureTensor: m.featureTensor,
    layout: m.featureDims.length === 3 ? 'nchw' : 'tokens',
    logitsTensor: m.logitsTensor,
    preprocess: { resize: { size: m.size, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    ...extra,
  };
}

function randomPixels(n: number, size: number, seed = 7): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * 3 * size * size }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 4 - 2;
  });
}

/** Runs the original model with the feature tensor exposed: raw features and logits. */
async function reference(m: TinyModelInfo, pixels: Float32Array, n: number): Promise<{ raw: Float32Array; logits: Float32Array }> {
  const model = exposeTensors(decodeModel(readFileSync(m.path), m.path), [m.featureTensor], m.path);
  const s = await engine.open(encodeModel(model));
  const out = await s.run({ [m.inputName]: f32(pixels, [n, 3, m.size, m.size]) });
  await s.release();
  return { raw: dataF32(out[m.featureTensor]!), logits: dataF32(out[m.logitsTensor]!) };
}

/** Straight PyTorch bilinear (align_corners=False) on one h×w map, written independently of the library. */
function naiveResize(map: (i: number, j: number) => number, h: number, w: number, gh: number, gw: number): number[] {
  const src = (o: number, inn: number, out: number) => Math.max(0, (o + 0.5) * (inn / out) - 0.5);
  const res: number[] = [];
  for (let a = 0; a < gh; a++) {
    const y = src(a, h, gh);
    const y0 = Math.floor(y);
    const y1 = Math.min(y0 + 1, h - 1);
    const ly = y - y0;
    for (let b = 0; b < gw; b++) {
      const x = src(b, w, gw);
      const x0 = Math.floor(x);
      const x1 = Math.min(x0 + 1, w - 1);
      const lx = x - x0;
      res.push((1 - ly) * ((1 - lx) * map(y0, x0) + lx * map(y0, x1)) + ly * ((1 - lx) * map(y1, x0) + lx * map(y1, x1)));
    }
  }
  return res;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (tol ${tol})`);
    }
  }
}

test('bilinearMatrix rows are PyTorch interpolation weights (sum to 1, clamped borders)', () => {
  const m = bilinearMatrix(4, 2); // scale 2: sources 0.5 and 2.5
  assert.deepEqual(Array.from(m), [0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]);
  const up = bilinearMatrix(2, 4); // scale 0.5: sources -0.25→0, 0.25, 0.75, 1.25→clamped at the end
  assert.deepEqual(Array.from(up), [1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1]);
});

test('resize in the derived model matches torch F.interpolate (golden, 1e-5)', async () => {
  const golden = JSON.parse(readFileSync(fixturePath('resize-golden.json'), 'utf8')) as {
    cases: { shape: number[]; grid: [number, number]; input: number[]; output: number[] }[];
  };
  assert.ok(golden.cases.length >= 5);
  for (const c of golden.cases) {
    const [n, ch, h, w] = c.shape as [number, number, number, number];
    assert.equal(ch, 3);
    // A "backbone" whose feature map is the top-left h×w crop of its input pixels.
    const S = Math.max(h, w);
    const b = new GraphBuilder('crop');
    const x = b.input('pixels', 'float32', ['N', 3, S, S]);
    b.output(b.op('Slice', [x, b.constI64([0, 0]), b.constI64([h, w]), b.constI64([2, 3])], {}, 'crop'));
    const path = join(dir, `crop-${h}x${w}.onnx`);
    writeFileSync(path, b.toBytes());
    const bb = await Backbone.load(
      { model: path, featureTensor: 'crop', layout: 'nchw', preprocess: { resize: { size: S, mode: 'stretch' }, mean: [0, 0, 0], std: [1, 1, 1] } },
      c.grid,
      engine,
    );
    assert.deepEqual(bb.nativeGrid, [h, w]);
    const pixels = new Float32Array(n * 3 * S * S);
    for (let k = 0; k < n * 3; k++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) pixels[(k * S + i) * S + j] = c.input[(k * h + i) * w + j]!;
    const { features, logits } = await bb.run(pixels, n);
    assert.equal(logits, undefined);
    const G = c.grid[0] * c.grid[1];
    // torch output is N×C×Gh×Gw; ours is N×G×C.
    const expected = new Float32Array(n * G * 3);
    for (let k = 0; k < n; k++) for (let cc = 0; cc < 3; cc++) for (let g = 0; g < G; g++) expected[(k * G + g) * 3 + cc] = c.output[(k * 3 + cc) * G + g]!;
    assertClose(features, expected, 1e-5, `golden ${c.shape.join('x')} → ${c.grid.join('x')}`);
  }
});

test('CNN backbone: N×G×D channels-last features, logits equal to the original model', async () => {
  const n = 2;
  const pixels = randomPixels(n, cnn.size);
  const ref = await reference(cnn, pixels, n);
  const [D, h, w] = cnn.featureDims as [number, number, number];

  const native = await Backbone.load(config(cnn), [h, w], engine);
  assert.deepEqual(native.nativeGrid, [h, w]);
  assert.equal(native.featureDim, D);
  assert.deepEqual(native.rawDims, [D, h, w]);
  assert.equal(native.numClasses, cnn.classes);
  const out0 = await native.run(pixels, n);
  // At the native grid the resize is the identity: features[n, i·w+j, c] = raw[n, c, i, j].
  const expected0 = new Float32Array(n * h * w * D);
  for (let k = 0; k < n; k++)
    for (let c = 0; c < D; c++) for (let p = 0; p < h * w; p++) expected0[(k * h * w + p) * D + c] = ref.raw[(k * D + c) * h * w + p]!;
  assert.deepEqual(out0.features, expected0);
  assertClose(out0.logits!, ref.logits, 1e-6, 'logits');
  assert.ok(
    ref.raw.some((v) => v > 0),
    'the tiny CNN produces non-zero features',
  );

  const bb = await Backbone.load(config(cnn), [7, 7], engine);
  const { features, logits } = await bb.run(pixels, n);
  assert.equal(features.length, n * 49 * D);
  assertClose(logits!, ref.logits, 1e-6, 'logits at grid 7×7');
  for (let k = 0; k < n; k++) {
    for (const c of [0, 5, D - 1]) {
      const exp = naiveResize((i, j) => ref.raw[((k * D + c) * h + i) * w + j]!, h, w, 7, 7);
      const got = Array.from({ length: 49 }, (_, g) => features[(k * 49 + g) * D + c]!);
      assertClose(got, exp, 1e-5, `image ${k} channel ${c}`);
    }
  }

  // The derived model is a standalone model with only our outputs, at the backbone's opset.
  const derived = bb.derivedModel();
  assert.deepEqual(
    derived.graph!.output!.map((o) => o.name),
    [FEATURES_OUTPUT, LOGITS_OUTPUT],
  );
  assert.equal(Number(derived.opsetImport![0]!.version), 17);
  const s = await engine.open(encodeModel(derived));
  const again = await s.run({ [bb.inputName]: f32(pixels, [n, 3, cnn.size, cnn.size]) });
  await s.release();
  assert.deepEqual(dataF32(again[FEATURES_OUTPUT]!), features);
});

test('a model with a fixed batch of 1 is run in chunks, with the same results', async () => {
  const fixed = writeTinyCnn(join(dir, 'cnn-b1.onnx'), { batch: 1 });
  const n = 3;
  const pixels = randomPixels(n, cnn.size, 11);
  const a = await (await Backbone.load(config(cnn), [5, 5], engine)).run(pixels, n);
  const bb = await Backbone.load(config(fixed), [5, 5], engine);
  assert.equal(bb.fixedBatch, 1);
  const b = await bb.run(pixels, n);
  assertClose(b.features, a.features, 1e-6, 'features');
  assertClose(b.logits!, a.logits!, 1e-6, 'logits');
});

test('ViT backbone: CLS dropped or concatenated, checked against the raw tokens', async () => {
  const n = 2;
  const pixels = randomPixels(n, vit.size, 3);
  const ref = await reference(vit, pixels, n);
  const [T, D] = vit.featureDims as [number, number];
  const P = T - 1; // 16 patch tokens on a 4×4 grid
  const tok = (k: number, t: number, c: number) => ref.raw[(k * T + t) * D + c]!;

  const drop = await Backbone.load(config(vit), [4, 4], engine);
  assert.deepEqual(drop.nativeGrid, [4, 4]);
  assert.equal(drop.featureDim, D);
  const d = await drop.run(pixels, n);
  const expDrop = Float32Array.from({ length: n * P * D }, (_, i) => tok(Math.floor(i / (P * D)), 1 + (Math.floor(i / D) % P), i % D));
  assert.deepEqual(d.features, expDrop);
  assertClose(d.logits!, ref.logits, 1e-6, 'ViT logits');

  const concat = await Backbone.load(config(vit, { cls: 'concat' }), [4, 4], engine);
  assert.equal(concat.featureDim, 2 * D);
  const c = await concat.run(pixels, n);
  for (let k = 0; k < n; k++) {
    for (let p = 0; p < P; p++) {
      const row = c.features.subarray((k * P + p) * 2 * D, (k * P + p + 1) * 2 * D);
      assert.deepEqual(
        Array.from(row.subarray(0, D)),
        Array.from({ length: D }, (_, cc) => tok(k, 1 + p, cc)),
        'patch channels first',
      );
      assert.deepEqual(
        Array.from(row.subarray(D)),
        Array.from({ length: D }, (_, cc) => tok(k, 0, cc)),
        'then the CLS token',
      );
    }
  }

  // Resized to 3×3: patch half resized, CLS half constant over the grid.
  const small = await Backbone.load(config(vit, { cls: 'concat' }), [3, 3], engine);
  const r = await small.run(pixels, n);
  for (let k = 0; k < n; k++) {
    for (const cc of [0, 7, D - 1]) {
      const exp = naiveResize((i, j) => tok(k, 1 + i * 4 + j, cc), 4, 4, 3, 3);
      assertClose(
        Array.from({ length: 9 }, (_, g) => r.features[(k * 9 + g) * 2 * D + cc]!),
        exp,
        1e-5,
        `resized patch channel ${cc}`,
      );
      for (let g = 0; g < 9; g++) assertClose([r.features[(k * 9 + g) * 2 * D + D + cc]!], [tok(k, 0, cc)], 1e-6, 'broadcast CLS');
    }
  }
});

test("ViT without a CLS token, cls 'none': every token is a patch", async () => {
  const plain = writeTinyVit(join(dir, 'vit-nocls.onnx'), { cls: false, size: 24, patch: 8 });
  const pixels = randomPixels(1, plain.size, 5);
  const ref = await reference(plain, pixels, 1);
  const bb = await Backbone.load(config(plain, { cls: 'none' }), [3, 3], engine);
  assert.deepEqual(bb.nativeGrid, [3, 3]);
  const { features, logits } = await bb.run(pixels, 1);
  assert.deepEqual(features, ref.raw);
  assertClose(logits!, ref.logits, 1e-6, 'logits');
});

test('bad configs fail early with clear errors naming the file', async () => {
  const missing = join(dir, 'nope.onnx');
  await assert.rejects(Backbone.load(config(cnn, { model: missing }), [7, 7], engine), new RegExp(`${missing}: backbone model file not found`));
  const junk = join(dir, 'junk.onnx');
  writeFileSync(junk, 'definitely not protobuf \u0000\u00ff\u00fe');
  await assert.rejects(Backbone.load(config(cnn, { model: junk }), [7, 7], engine), /junk\.onnx: not an ONNX model/);
  await assert.rejects(
    Backbone.load(config(cnn, { featureTensor: 'featurs' }), [7, 7], engine),
    /cnn\.onnx: no tensor named "featurs".*Closest tensor names: "features"/,
  );
  await assert.rejects(Backbone.load(config(cnn, { logitsTensor: 'logit' }), [7, 7], engine), /no tensor named "logit"/);
  await assert.rejects(
    Backbone.load(config(vit, { layout: 'nchw' }), [7, 7], engine),
    /vit\.onnx: feature tensor tokens has shape \[1, 17, 16\]; layout 'nchw' needs N×D×h×w/,
  );
  await assert.rejects(Backbone.load(config(cnn, { layout: 'tokens' }), [7, 7], engine), /layout 'tokens' needs N×T×D/);
  await assert.rejects(Backbone.load(config(vit, { cls: 'none' }), [7, 7], engine), /17 tokens.*not form a square grid.*set cls to 'drop' or 'concat'/);
  await assert.rejects(Backbone.load(config(cnn, { cls: 'concat' }), [7, 7], engine), /cls 'concat' applies to the 'tokens' layout only/);
  await assert.rejects(Backbone.load(config(cnn), [0, 7], engine), /grid must be two positive integers/);
  const wrongSize = config(cnn);
  wrongSize.preprocess = { ...wrongSize.preprocess, resize: { size: 32, mode: 'stretch' } };
  await assert.rejects(Backbone.load(wrongSize, [7, 7], engine), /cnn\.onnx: input pixels is fixed at 64×64 but preprocess\.resize\.size is 32/);
  const bb = await Backbone.load(config(cnn), [2, 2], engine);
  await assert.rejects(bb.run(new Float32Array(10), 1), /cnn\.onnx: run expects 1×3×64×64 = 12288 pixel values, got 10/);
});

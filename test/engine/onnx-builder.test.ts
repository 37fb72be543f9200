import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, decodeModel, attr } from '../../src/engine/onnx-builder.js';
import { Engine, f32, dataF32 } from '../../src/engine/session.js';

test('a built MatMul+Relu graph runs in ONNX Runtime and matches a hand computation', async () => {
  const b = new GraphBuilder('mm');
  const a = b.input('A', 'float32', ['n', 2]);
  const w = b.constF32([1, -1, 2, 0.5], [2, 2]);
  const y = b.op('Relu', [b.op('MatMul', [a, w])], {}, 'Y');
  b.output(y, 'float32', ['n', 2]);
  const engine = new Engine();
  const s = await engine.cached('mm', () => b.toBytes());
  const out = await s.run({ A: f32(Float32Array.from([1, 2, -1, 0]), [2, 2]) });
  // [1,2]·W = [1+4, -1+1] = [5, 0]; [-1,0]·W = [-1, 1] -> relu [0, 1]
  assert.deepEqual(Array.from(dataF32(out.Y!)), [5, 0, 0, 1]);
  assert.equal(
    await engine.cached('mm', () => {
      throw new Error('rebuilt');
    }),
    s,
    'session is reused',
  );
  await engine.dispose();
});

test('typed attributes reach the graph (Transpose perm, LeakyRelu alpha)', async () => {
  const b = new GraphBuilder('t');
  const x = b.input('X', 'float32', [2, 3]);
  const t = b.op('Transpose', [x], { perm: attr.ints([1, 0]) });
  b.output(b.op('LeakyRelu', [t], { alpha: attr.f(0.5) }, 'Y'));
  const engine = new Engine();
  const s = await engine.open(b.toBytes());
  const out = await s.run({ X: f32(Float32Array.from([1, -2, 3, -4, 5, -6]), [2, 3]) });
  assert.deepEqual(out.Y!.dims, [3, 2]);
  assert.deepEqual(Array.from(dataF32(out.Y!)), [1, -2, -1, 5, 3, -3]);
});

test('decodeModel names the source when the bytes are not ONNX', () => {
  assert.throws(() => decodeModel(new TextEncoder().encode('hello, not a model'), 'weights.bin'), /weights\.bin: not an ONNX model/);
});

test('constF32Transposed holds Wᵀ: x·Wᵀ by MatMul equals W·x by hand; a wrong size is refused', async () => {
  // W is 3×2 (rows [1, 2], [3, 4], [5, 6]); x = [1, -1] → W·x = [-1, -1, -1]; x = [2, 1] → [4, 10, 16].
  const W = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const b = new GraphBuilder('wt');
  const x = b.input('x', 'float32', ['n', 2]);
  b.op('MatMul', [x, b.constF32Transposed(W, 3, 2, 'w_t')], {}, 'y');
  b.output('y', 'float32', ['n', 3]);
  const engine = new Engine();
  const s = await engine.open(b.toBytes());
  const out = await s.run({ x: f32(Float32Array.from([1, -1, 2, 1]), [2, 2]) });
  assert.deepEqual(Array.from(dataF32(out.y!)), [-1, -1, -1, 4, 10, 16]);
  await s.release();
  assert.throws(() => new GraphBuilder('bad').constF32Transposed(W, 2, 2, 'w_t'), /bad: w_t has 6 values, expected 2×2/);
});

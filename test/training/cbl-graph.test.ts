import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';
import { Engine } from '../../src/engine/session.js';
import { buildCblGraph, cblEvaluate, cblLossAndGrad, defaultGridChunk, gridMajorChunk, PreparedCblData, type CblShape } from '../../src/training/cbl-graph.js';
import { Rng } from '../../src/rng.js';
import { Adam } from '../../src/training/adam.js';
import { relErr } from '../helpers/numeric.js';

interface Golden {
  shape: CblShape;
  eps: number;
  F: number[];
  I: number[];
  T: number[];
  W: number[];
  loss: { sum: number; mean: number };
  grad: { sum: number[]; mean: number[] };
  columnSim: number[];
  conceptSim: number[];
  adam: { lr: number; after: number[][] };
}

const golden = JSON.parse(readFileSync(fixturePath('cbl-golden.json'), 'utf8')) as Golden;
const gs = golden.shape;
const gx = { W: Float32Array.from(golden.W), F: Float32Array.from(golden.F), I: Float32Array.from(golden.I), T: Float32Array.from(golden.T) };
const engine = new Engine({ threads: 1 });

/** Float64 reference loss −Σ sim3 over the columns (g, m), straight from the definition. */
function refLoss(s: CblShape, W: Float64Array, F: Float32Array, I: Float32Array, T: Float32Array, eps: number): number {
  const { B, G, D, E, M } = s;
  let total = 0;
  for (let g = 0; g < G; g++) {
    for (let m = 0; m < M; m++) {
      const q = new Float64Array(B);
      const p = new Float64Array(B);
      for (let n = 0; n < B; n++) {
        for (let d = 0; d < D; d++) q[n]! += F[(n * G + g) * D + d]! * W[m * D + d]!;
        for (let e = 0; e < E; e++) p[n]! += I[(n * G + g) * E + e]! * T[m * E + e]!;
      }
      const cube = (x: Float64Array): Float64Array => {
        const mu = x.reduce((a, b) => a + b, 0) / B;
        const c = x.map((v) => (v - mu) ** 3);
        const norm = Math.sqrt(c.reduce((a, b) => a + b * b, 0)) + eps;
        return c.map((v) => v / norm);
      };
      const qu = cube(q);
      const pv = cube(p);
      for (let n = 0; n < B; n++) total -= qu[n]! * pv[n]!;
    }
  }
  return total;
}

test('raw step graph matches PyTorch autograd (loss and gradient, sum and mean)', async () => {
  const sum = await cblLossAndGrad(engine, gs, gx, { eps: golden.eps });
  assert.ok(Math.abs(sum.loss - golden.loss.sum) < 1e-5 * Math.abs(golden.loss.sum), `loss ${sum.loss} vs ${golden.loss.sum}`);
  assert.ok(relErr(sum.grad, golden.grad.sum) < 1e-5, `grad rel err ${relErr(sum.grad, golden.grad.sum)}`);
  const mean = await cblLossAndGrad(engine, gs, gx, { eps: golden.eps, reduction: 'mean' });
  assert.ok(Math.abs(mean.loss - golden.loss.mean) < 1e-5 * Math.abs(golden.loss.mean));
  assert.ok(relErr(mean.grad, golden.grad.mean) < 1e-5);
  // The two reductions differ by exactly the number of columns.
  assert.ok(Math.abs(sum.loss / (gs.G * gs.M) - mean.loss) < 1e-6);
});

test("one Adam step on the graph gradient lands on torch.optim.Adam's weights", async () => {
  const { grad } = await cblLossAndGrad(engine, gs, gx, { eps: golden.eps });
  const W = Float32Array.from(gx.W);
  new Adam(W.length, { lr: golden.adam.lr }).update(W, grad);
  const want = golden.adam.after[0]!;
  for (let i = 0; i < W.length; i++) assert.ok(Math.abs(W[i]! - want[i]!) < 2e-7, `W[${i}] ${W[i]} vs ${want[i]}`);
});

test('raw eval graph gives the per-column and per-concept similarities', async () => {
  const ev = await cblEvaluate(engine, gs, gx, { eps: golden.eps });
  assert.ok(relErr(ev.columnSim, golden.columnSim) < 1e-5);
  assert.ok(relErr(ev.conceptSim, golden.conceptSim) < 1e-5);
  assert.ok(Math.abs(ev.loss - golden.loss.sum) < 1e-5 * Math.abs(golden.loss.sum));
  assert.ok(Math.abs(ev.meanSim + golden.loss.mean) < 1e-6);
});

test('prepared data (centred features, precomputed targets) gives the same loss and gradient for any grid chunking', async () => {
  for (const gridChunk of [undefined, 1, 3, gs.G]) {
    const prep = await PreparedCblData.create(engine, { F: gx.F, I: gx.I, n: gs.B }, gx.T, gs, { eps: golden.eps, gridChunk });
    const { loss, grad } = await prep.lossAndGrad(gx.W);
    assert.ok(Math.abs(loss - golden.loss.sum) < 1e-5 * Math.abs(golden.loss.sum), `chunk ${gridChunk}: loss ${loss}`);
    assert.ok(relErr(grad, golden.grad.sum) < 1e-5, `chunk ${gridChunk}: grad rel err ${relErr(grad, golden.grad.sum)}`);
    const ev = await prep.evaluate(gx.W);
    assert.ok(relErr(ev.conceptSim, golden.conceptSim) < 1e-5);
    assert.ok(relErr(ev.columnSim, golden.columnSim) < 1e-5);
  }
  const prepMean = await PreparedCblData.create(engine, { F: gx.F, I: gx.I, n: gs.B }, gx.T, gs, { eps: golden.eps, reduction: 'mean', gridChunk: 3 });
  const m = await prepMean.lossAndGrad(gx.W);
  assert.ok(Math.abs(m.loss - golden.loss.mean) < 1e-5 * Math.abs(golden.loss.mean));
  assert.ok(relErr(m.grad, golden.grad.mean) < 1e-4);
});

test('prepared data over a subset of rows equals the raw graph on the gathered batch', async () => {
  const rows = Int32Array.from([6, 2, 0, 4]);
  const gather = (X: Float32Array, R: number): Float32Array => {
    const out = new Float32Array(rows.length * R);
    rows.forEach((r, k) => out.set(X.subarray(r * R, (r + 1) * R), k * R));
    return out;
  };
  const s4 = { ...gs, B: rows.length };
  const want = await cblLossAndGrad(engine, s4, { W: gx.W, T: gx.T, F: gather(gx.F, gs.G * gs.D), I: gather(gx.I, gs.G * gs.E) });
  const prep = await PreparedCblData.create(engine, { F: gx.F, I: gx.I, n: gs.B }, gx.T, gs, { rows, gridChunk: 3 });
  assert.equal(prep.B, 4);
  const got = await prep.lossAndGrad(gx.W);
  assert.ok(Math.abs(got.loss - want.loss) < 1e-5 * Math.abs(want.loss));
  assert.ok(relErr(got.grad, want.grad) < 1e-5);
  assert.notEqual(got.loss.toFixed(4), golden.loss.sum.toFixed(4), 'a different batch, a different loss');
  await assert.rejects(
    PreparedCblData.create(engine, { F: gx.F, I: gx.I, n: gs.B }, gx.T, gs, { rows: Int32Array.from([0, 7]) }),
    /image index 7 outside 0\.\.6/,
  );
});

test('gradient matches float64 central finite differences of the definition', async () => {
  const rng = new Rng(7);
  const s: CblShape = { B: 9, G: 3, D: 4, E: 3, M: 2 };
  const F = Float32Array.from({ length: s.B * s.G * s.D }, () => rng.normal());
  const I = Float32Array.from({ length: s.B * s.G * s.E }, () => rng.normal());
  const T = Float32Array.from({ length: s.M * s.E }, () => rng.normal());
  const W = Float32Array.from({ length: s.M * s.D }, () => rng.uniform(-0.5, 0.5));
  const { loss, grad } = await cblLossAndGrad(engine, s, { W, F, I, T });
  const W64 = Float64Array.from(W);
  assert.ok(Math.abs(loss - refLoss(s, W64, F, I, T, 1e-12)) < 1e-5);
  const h = 1e-6;
  for (const idx of [0, 3, 5, 7]) {
    const plus = Float64Array.from(W64);
    const minus = Float64Array.from(W64);
    plus[idx]! += h;
    minus[idx]! -= h;
    const fd = (refLoss(s, plus, F, I, T, 1e-12) - refLoss(s, minus, F, I, T, 1e-12)) / (2 * h);
    assert.ok(Math.abs(fd) > 1e-3, 'a gradient entry worth checking');
    assert.ok(Math.abs(grad[idx]! - fd) < 2e-4 * Math.max(1, Math.abs(fd)), `entry ${idx}: graph ${grad[idx]} vs fd ${fd}`);
  }
  // The same check through the float32 graph itself, with a float32-friendly step.
  const h32 = 1e-2;
  for (const idx of [1, 6]) {
    const plus = Float32Array.from(W);
    const minus = Float32Array.from(W);
    plus[idx]! += h32;
    minus[idx]! -= h32;
    const lp = (await cblEvaluate(engine, s, { W: plus, F, I, T })).loss;
    const lm = (await cblEvaluate(engine, s, { W: minus, F, I, T })).loss;
    const fd = (lp - lm) / (plus[idx]! - minus[idx]!);
    assert.ok(Math.abs(grad[idx]! - fd) < 2e-2 * Math.max(1, Math.abs(fd)), `entry ${idx}: graph ${grad[idx]} vs float32 fd ${fd}`);
  }
});

test('a constant column (no variation over the batch) gives similarity 0 and a finite gradient thanks to eps', async () => {
  const s: CblShape = { B: 5, G: 2, D: 3, E: 2, M: 2 };
  const rng = new Rng(3);
  const F = Float32Array.from({ length: s.B * s.G * s.D }, () => rng.normal());
  const I = Float32Array.from({ length: s.B * s.G * s.E }, () => rng.normal());
  // Grid position 1: the same CLIP embedding for every image, so P is constant down the batch.
  for (let n = 0; n < s.B; n++) I.set([0.6, 0.8], (n * s.G + 1) * s.E);
  const T = Float32Array.from([1, 0, 0, 1]);
  const W = Float32Array.from({ length: s.M * s.D }, () => rng.uniform(-1, 1));
  W.fill(0, 0, s.D); // concept 0 has zero weights, so its C is constant too
  const { loss, grad } = await cblLossAndGrad(engine, s, { W, F, I, T });
  assert.ok(Number.isFinite(loss));
  assert.ok(grad.every(Number.isFinite));
  const ev = await cblEvaluate(engine, s, { W, F, I, T });
  assert.equal(ev.columnSim[1 * s.M + 0], 0);
  assert.equal(ev.columnSim[1 * s.M + 1], 0);
  assert.equal(ev.columnSim[0], 0, 'zero weights: constant concept map');
  assert.notEqual(ev.columnSim[1], 0);
});

test('helpers: grid-major chunks (centred or not), grid chunk sizes, graph validation', () => {
  // X [B=3, G=2, W=2]: X[n, g, :] = [10n + g, 100 + g]
  const X = Float32Array.from([0, 100, 1, 101, 10, 100, 11, 101, 20, 100, 21, 101]);
  assert.deepEqual(Array.from(gridMajorChunk(X, 3, 2, 2, 1, 1, false)), [1, 101, 11, 101, 21, 101]);
  assert.deepEqual(Array.from(gridMajorChunk(X, 3, 2, 2, 0, 2, true)), [-10, 0, 0, 0, 10, 0, -10, 0, 0, 0, 10, 0]);
  assert.throws(() => gridMajorChunk(X, 3, 2, 2, 1, 2, true), /outside/);
  assert.equal(defaultGridChunk(100, 49, 10), 49);
  assert.equal(defaultGridChunk(2000, 49, 370), 10);
  assert.equal(defaultGridChunk(50000, 49, 4741), 1);
  assert.throws(() => buildCblGraph('step', { B: 0, G: 1, D: 1, E: 1, M: 1 }, 1e-12, 1), /B must be a positive integer/);
  return assert.rejects(cblLossAndGrad(engine, gs, { ...gx, W: new Float32Array(3) }), /W has 3 values, expected 18/);
});

test('engine cleanup', async () => {
  await engine.dispose();
});

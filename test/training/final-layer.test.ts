import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';
import { Engine } from '../../src/engine/session.js';
import { Rng } from '../../src/rng.js';
import { trainFinalLayer, selectPathPoint, nec, type PathSummary } from '../../src/training/final-layer.js';
import { fitStandardiser, applyStandardiser } from '../../src/training/standardise.js';

const engine = new Engine({ threads: 1 });
after(() => engine.dispose());

const golden = JSON.parse(readFileSync(fixturePath('glm-saga-golden.json'), 'utf8')) as { X: number[]; y: number[]; Xval: number[]; yval: number[] };
const X = Float32Array.from(golden.X);
const y = Int32Array.from(golden.y);
const Xval = Float32Array.from(golden.Xval);
const yval = Int32Array.from(golden.yval);

/** Three well separated clusters in M = 5 dimensions (only the first two carry the class). */
function separable(n: number, rng: Rng): { X: Float32Array; y: Int32Array } {
  const centres = [
    [4, 0],
    [-4, 4],
    [-4, -4],
  ];
  const Xs = new Float32Array(n * 5);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = i % 3;
    ys[i] = l;
    for (let m = 0; m < 5; m++) Xs[i * 5 + m] = (m < 2 ? centres[l]![m]! : 0) + 0.5 * rng.normal();
  }
  return { X: Xs, y: ys };
}

test('dense mode separates a linearly separable set', async () => {
  const rng = new Rng(3);
  const tr = separable(150, rng);
  const va = separable(60, rng);
  const st = fitStandardiser(tr.X, 150, 5);
  const res = await trainFinalLayer({
    Xtrain: applyStandardiser(tr.X, 150, 5, st),
    ytrain: tr.y,
    Xval: applyStandardiser(va.X, 60, 5, st),
    yval: va.y,
    nClasses: 3,
    mode: 'dense',
    batchSize: 32,
    epochsPerLambda: 50,
    engine,
    seed: 1,
  });
  assert.equal(res.mode, 'dense');
  assert.equal(res.lambda, 0);
  assert.equal(res.metrics.trainAcc, 1);
  assert.equal(res.metrics.valAcc, 1);
  assert.equal(res.metrics.nnz, 15, 'no penalty: every weight is used');
  assert.equal(res.W.length, 15);
  assert.equal(res.b.length, 3);
});

test("sparse mode with one λ is LF-CBM's call: λ = lam/0.99, sparse weights", async () => {
  const res = await trainFinalLayer({ Xtrain: X, ytrain: y, Xval, yval, nClasses: 3, lam: 0.02, epochsPerLambda: 100, engine });
  assert.equal(res.path.length, 1);
  assert.equal(res.chosen, 0);
  assert.equal(res.lambda, 0.02 / 0.99);
  assert.ok(res.metrics.nnz > 0 && res.metrics.nnz < 30, `nnz ${res.metrics.nnz}`);
  assert.equal(res.metrics.nec, nec(res.W, 3, 10));
  assert.ok(res.metrics.trainAcc > 0.8);
  assert.ok(res.metrics.valAcc! > 0.75);
});

test('a path with targetNec picks the densest point not above the target', async () => {
  const res = await trainFinalLayer({
    Xtrain: X,
    ytrain: y,
    Xval,
    yval,
    nClasses: 3,
    path: { k: 6, epsilon: 0.01 },
    targetNec: 2.5,
    batchSize: 200,
    stepSize: 0.5,
    epochsPerLambda: 150,
    order: 'sequential',
    engine,
  });
  assert.equal(res.path.length, 6);
  const necs = res.path.map((p) => p.nec);
  assert.ok(
    necs.some((v) => v > 2.5),
    `some point exceeds the target: ${necs.join(', ')}`,
  );
  assert.ok(res.metrics.nec <= 2.5);
  for (const v of necs) assert.ok(v > 2.5 || v <= res.metrics.nec, `NECs ${necs.join(', ')}, chose ${res.metrics.nec}`);
  assert.equal(res.lambda, res.path[res.chosen]!.lambda);
  assert.equal(res.metrics.nnz, res.path[res.chosen]!.nnz);
});

test('selectPathPoint rules on a hand-made path', () => {
  const p = (nec: number, valAcc: number, valLoss: number): PathSummary => ({
    lambda: 1,
    lr: 0.1,
    loss: 1,
    trainAcc: 0.5,
    valAcc,
    valLoss,
    nnz: nec * 2,
    nec,
    epochs: 1,
    stop: 'tol',
  });
  const path = [p(0, 0.3, 1.1), p(2, 0.8, 0.6), p(3, 0.8, 0.5), p(3, 0.85, 0.55), p(7, 0.9, 0.4)];
  assert.equal(selectPathPoint(path, 'nec', 3), 3, 'NEC 3 ties broken by val accuracy');
  assert.equal(selectPathPoint(path, 'nec', 2.9), 1);
  assert.equal(selectPathPoint(path, 'val-accuracy'), 4);
  assert.equal(selectPathPoint(path.slice(0, 4), 'val-accuracy'), 3);
  assert.equal(selectPathPoint([p(1, 0.8, 1), p(4, 0.8, 1)], 'val-accuracy'), 0, 'ties go to the sparser point');
  assert.equal(selectPathPoint(path, 'val-loss'), 4);
  assert.equal(selectPathPoint(path, 'last'), 4);
  assert.equal(selectPathPoint([p(5, 0.5, 1), p(4, 0.5, 1)], 'nec', 1), 1, 'all above: the sparsest');
  assert.throws(() => selectPathPoint(path, 'nec'), /needs targetNec/);
  const noVal = path.map(({ valAcc: _a, valLoss: _l, ...rest }) => rest);
  assert.throws(() => selectPathPoint(noVal, 'val-accuracy'), /needs a validation set/);
});

test('standardiser: training mean and unbiased std (torch.std), constant concepts centred', () => {
  // Columns: [1, 2, 3] → mean 2, std 1; [0, 0, 3] → mean 1, std √3 (unbiased; population would be √2);
  // [5, 5, 5] → constant, std replaced by 1.
  const Xs = Float32Array.from([1, 0, 5, 2, 0, 5, 3, 3, 5]);
  const st = fitStandardiser(Xs, 3, 3);
  assert.deepEqual(Array.from(st.mean), [2, 1, 5]);
  assert.ok(Math.abs(st.std[0]! - 1) < 1e-7);
  assert.ok(Math.abs(st.std[1]! - Math.sqrt(3)) < 1e-6);
  assert.equal(st.std[2], 1);
  const Z = applyStandardiser(Xs, 3, 3, st);
  const expect = [-1, -1 / Math.sqrt(3), 0, 0, -1 / Math.sqrt(3), 0, 1, 2 / Math.sqrt(3), 0];
  expect.forEach((v, i) => assert.ok(Math.abs(Z[i]! - v) < 1e-6, `Z[${i}] = ${Z[i]}`));
  assert.throws(() => fitStandardiser(Xs.subarray(0, 3), 1, 3), /at least 2 samples/);
  assert.throws(() => applyStandardiser(Xs, 3, 2, st), /9 values for \[3 × 2\]/);
});

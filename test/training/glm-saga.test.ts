import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';
import { Engine } from '../../src/engine/session.js';
import { glmSaga, lambdaPath, maximumReg, nec, nonZeros, sagaStep } from '../../src/training/glm-saga.js';
import { maxAbsDiff } from '../helpers/numeric.js';

interface GoldenPoint {
  lambda: number;
  lr: number;
  W: number[];
  b: number[];
  loss: number;
  trainAcc: number;
  valLoss: number;
  valAcc: number;
  nnz: number;
  stop: string;
  epochs: number | null;
}
interface GoldenCase {
  name: string;
  settings: {
    batch_size: number;
    lr: number;
    nepochs: number;
    alpha: number;
    k: number;
    epsilon: number;
    tol: number;
    do_zero: boolean;
    lr_decay_factor: number;
    lookbehind: number | null;
    max_reg: number | null;
  };
  points: GoldenPoint[];
}
interface Golden {
  nClasses: number;
  M: number;
  X: number[];
  y: number[];
  Xval: number[];
  yval: number[];
  cases: GoldenCase[];
}

const golden = JSON.parse(readFileSync(fixturePath('glm-saga-golden.json'), 'utf8')) as Golden;
const X = Float32Array.from(golden.X);
const y = Int32Array.from(golden.y);
const val = { X: Float32Array.from(golden.Xval), y: Int32Array.from(golden.yval) };
const engine = new Engine({ threads: 1 });
after(() => engine.dispose());

// Tolerances. Both sides run in float32 (torch CPU vs ONNX Runtime) with the same batches, so
// they differ only by summation order inside the GEMMs/reductions (relative ~1e-7 per step).
// SAGA on this convex problem contracts such differences; after up to ~1200 steps the observed
// gap is ≤ 3e-6 on weights of size ~1. 3e-5 leaves a 10× margin yet catches any change to the
// update rule (a wrong prox threshold, step size or SAGA correction moves weights by ≥ 1e-3).
const W_TOL = 3e-5;
for (const c of golden.cases) {
  test(`matches glm_saga's path point by point: ${c.name}`, async () => {
    const s = c.settings;
    const path = await glmSaga({
      X,
      y,
      nClasses: golden.nClasses,
      alpha: s.alpha,
      stepSize: s.lr,
      lrDecayFactor: s.lr_decay_factor,
      batchSize: s.batch_size,
      epochsPerLambda: s.nepochs,
      k: s.k,
      epsilon: s.epsilon,
      tol: s.tol,
      doZero: s.do_zero,
      lookbehind: s.lookbehind ?? undefined,
      maxReg: s.max_reg ?? undefined,
      order: 'sequential',
      val,
      engine,
    });
    assert.equal(path.length, c.points.length);
    path.forEach((p, i) => {
      const g = c.points[i]!;
      const at = `${c.name} point ${i}`;
      // torch.logspace works in float32: relative 1e-6.
      assert.ok(Math.abs(p.lambda - g.lambda) <= 1e-6 * Math.max(g.lambda, 1e-12) + 1e-12, `${at}: λ ${p.lambda} vs ${g.lambda}`);
      assert.ok(Math.abs(p.lr - g.lr) <= 1e-7, `${at}: lr ${p.lr} vs ${g.lr}`);
      assert.ok(maxAbsDiff(p.W, g.W) <= W_TOL, `${at}: weights differ by ${maxAbsDiff(p.W, g.W)}`);
      assert.ok(maxAbsDiff(p.b, g.b) <= W_TOL, `${at}: bias differs by ${maxAbsDiff(p.b, g.b)}`);
      assert.ok(Math.abs(p.loss - g.loss) <= 1e-5, `${at}: loss ${p.loss} vs ${g.loss}`);
      assert.ok(Math.abs(p.valLoss! - g.valLoss) <= 1e-5, `${at}: val loss ${p.valLoss} vs ${g.valLoss}`);
      assert.ok(Math.abs(p.trainAcc - g.trainAcc) < 1e-6, `${at}: train acc ${p.trainAcc} vs ${g.trainAcc}`);
      assert.ok(Math.abs(p.valAcc! - g.valAcc) < 1e-6, `${at}: val acc ${p.valAcc} vs ${g.valAcc}`);
      assert.equal(p.nnz, g.nnz, `${at}: nnz`);
      assert.equal(p.stop, g.stop, `${at}: stop reason`);
      if (g.epochs !== null) assert.equal(p.epochs, g.epochs, `${at}: epochs`);
    });
  });
}

test('the golden cases exercise every stop rule and a non-trivial path', () => {
  const stops = new Set(golden.cases.flatMap((c) => c.points.map((p) => p.stop)));
  assert.deepEqual([...stops].sort(), ['lookbehind', 'max-epochs', 'tol']);
  const path = golden.cases.find((c) => c.name === 'path')!;
  assert.ok(path.points[0]!.nnz < path.points[path.points.length - 1]!.nnz);
  assert.equal(path.points[path.points.length - 1]!.lambda, 0);
});

test('maximumReg and lambdaPath follow glm_saga on a hand example', () => {
  // X (4×2), y = [0, 0, 1, 1]: ȳ = [.5, .5]; Xᵀ(Y − ȳ) column for class 0 = .5·(1 + 2 − 3 − 6) = −3 on
  // feature 0 and .5·(0 + 1 − 1 − 0) = 0 on feature 1; class 1 is its negative. max |.| / N = 3/4.
  const Xh = Float32Array.from([1, 0, 2, 1, 3, 1, 6, 0]);
  const yh = Int32Array.from([0, 0, 1, 1]);
  assert.ok(Math.abs(maximumReg(Xh, yh, 2) - 0.75) < 1e-12);
  const { lambdas, lrs } = lambdaPath({ X: Xh, y: yh, nClasses: 2, alpha: 0.5, k: 3, epsilon: 0.01, stepSize: 0.2, lrDecayFactor: 4 });
  // λ_max = 0.75 / 0.5 = 1.5, then 0.15, 0.015, then λ = 0; lr 0.2 → 0.1 → 0.05, then 0.05 again.
  const expect = [1.5, 0.15, 0.015, 0];
  lambdas.forEach((l, i) => assert.ok(Math.abs(l - expect[i]!) < 1e-12, `λ[${i}] = ${l}`));
  [0.2, 0.1, 0.05, 0.05].forEach((l, i) => assert.ok(Math.abs(lrs[i]! - l) < 1e-12, `lr[${i}] = ${lrs[i]}`));
  // LF-CBM's call: max_reg = lam, k = 1, epsilon = 1, no zero point → λ = lam / α.
  const lf = lambdaPath({ X: Xh, y: yh, nClasses: 2, alpha: 0.99, maxReg: 7e-4, k: 1, epsilon: 1, doZero: false });
  assert.deepEqual(lf.lambdas, [7e-4 / 0.99]);
});

test('one SAGA step: the prox zeroes small weights exactly and shrinks the rest', async () => {
  // With X = 0 the weight gradient vanishes, so W_new = prox(W − lr·Wavg) can be computed by hand.
  const L = 2;
  const M = 4;
  const lr = 0.1;
  const lambda = 1;
  const alpha = 0.5; // threshold lr·λ·α = 0.05, shrink 1 + lr·λ·(1−α) = 1.05
  const W = Float32Array.from([0.05, -0.3, 0.2, 0.01, -0.04, 0.5, 0, 0.06]);
  const Wavg = Float32Array.from([0, 0, 0, 0, 0, 0, 0, -1]); // last: 0.06 + 0.1 = 0.16
  const r = await sagaStep(engine, L, M, {
    X: new Float32Array(M),
    y: Int32Array.of(0),
    Aprev: new Float32Array(L),
    W,
    b: new Float32Array(L),
    Wavg,
    bavg: new Float32Array(L),
    lr,
    lambda,
    alpha,
    nTotal: 4,
  });
  const expectW = [0, -0.25 / 1.05, 0.15 / 1.05, 0, 0, 0.45 / 1.05, 0, 0.11 / 1.05];
  expectW.forEach((e, i) => {
    if (e === 0) assert.ok(r.W[i] === 0, `W[${i}] = ${r.W[i]} should be exactly 0`);
    else assert.ok(Math.abs(r.W[i]! - e) < 1e-6, `W[${i}] = ${r.W[i]}, expected ${e}`);
  });
  // Bias: logits = b = 0 → softmax [.5, .5]; a = [−.5, .5] (label 0) = the batch gradient.
  assert.ok(maxAbsDiff(r.A, [-0.5, 0.5]) < 1e-7);
  assert.ok(maxAbsDiff(r.b, [0.05, -0.05]) < 1e-7);
  assert.ok(maxAbsDiff(r.bavg, [-0.125, 0.125]) < 1e-7, 'averages move by (new − old)·B/N');
  assert.ok(maxAbsDiff(r.Wavg, Wavg) === 0);
  let c2 = 0.05 * 0.05 * 2;
  for (let i = 0; i < W.length; i++) c2 += (expectW[i]! - W[i]!) ** 2;
  assert.ok(Math.abs(r.criterion - Math.sqrt(c2)) < 1e-6);
  assert.ok(Math.abs(r.ceSum - Math.log(2)) < 1e-6);
});

test('sparsity grows as λ falls; at λ_max (full batch) every weight is zero', async () => {
  const path = await glmSaga({
    X,
    y,
    nClasses: golden.nClasses,
    batchSize: X.length,
    stepSize: 0.5,
    epochsPerLambda: 200,
    k: 6,
    epsilon: 0.01,
    order: 'sequential',
    engine,
  });
  assert.equal(path.length, 7);
  assert.equal(path[0]!.nnz, 0);
  for (let i = 1; i < path.length; i++) {
    assert.ok(path[i]!.lambda < path[i - 1]!.lambda);
    assert.ok(path[i]!.nnz >= path[i - 1]!.nnz, `nnz ${path.map((p) => p.nnz).join(', ')}`);
  }
  assert.equal(path[path.length - 1]!.nnz, golden.M * golden.nClasses, 'λ = 0 is dense');
  assert.ok(path[path.length - 1]!.trainAcc > path[0]!.trainAcc + 0.3);
  assert.equal(path[3]!.nec, path[3]!.nnz / golden.nClasses);
});

test('shuffled batches are reproducible from the seed', async () => {
  const run = (seed: number) => glmSaga({ X, y, nClasses: 3, lambdas: [0.02], batchSize: 64, epochsPerLambda: 5, tol: 0, seed, engine });
  const [a, b, c] = [await run(7), await run(7), await run(8)];
  assert.deepEqual(Array.from(a[0]!.W), Array.from(b[0]!.W));
  assert.notDeepEqual(Array.from(a[0]!.W), Array.from(c[0]!.W));
  assert.ok(maxAbsDiff(a[0]!.W, c[0]!.W) < 0.2, 'different orders still solve the same problem');
});

test('nonZeros and NEC by hand', () => {
  // 3 classes × 4 concepts; |w| ≤ 1e-5 counts as zero.
  const W = Float32Array.from([0.5, 0, 1e-6, -2e-5, 0, 0, 0, 0, -1, 1e-5, 3, 0.1]);
  assert.equal(nonZeros(W), 5);
  assert.equal(nec(W, 3, 4), 5 / 3);
  assert.throws(() => nec(W, 4, 4), /12 weights for an 4×4 matrix/);
});

test('bad inputs are rejected with clear errors', async () => {
  await assert.rejects(glmSaga({ X, y: Int32Array.from(golden.y.map((v) => v + 1)), nClasses: 3, engine }), /label 3 .* outside \[0, 3\)/);
  await assert.rejects(glmSaga({ X: X.subarray(1), y, nClasses: 3, engine }), /not a multiple of N/);
  await assert.rejects(
    glmSaga({ X, y, nClasses: 3, val: { X: val.X.subarray(0, 30), y: val.y.subarray(0, 10) }, engine }),
    /validation X has 3 features, training has 10/,
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/paths.js';
import { Engine } from '../../src/engine/session.js';
import { PreparedCblData } from '../../src/training/cbl-graph.js';
import { Rng } from '../../src/rng.js';
import { initConceptLayer, interpretabilityCutoff, selectRows, trainConceptLayer, trainWithCutoff, type CblDataSet } from '../../src/training/train-cbl.js';

const engine = new Engine({ threads: 1 });
const G = 4;
const D = 8;
const E = 4;
const M = 4; // concepts 0..2 are linear in the features; concept 3 is pure noise

/** T = identity, so P[n,g,m] = I[n,g,m]; I[.., m] = F·W_true[m] for m < 3, noise for m = 3. */
function synthetic(n: number, rng: Rng, wTrue: Float32Array): CblDataSet {
  const F = Float32Array.from({ length: n * G * D }, () => rng.normal());
  const I = new Float32Array(n * G * E);
  for (let r = 0; r < n * G; r++) {
    for (let m = 0; m < 3; m++) {
      let v = 0;
      for (let d = 0; d < D; d++) v += F[r * D + d]! * wTrue[m * D + d]!;
      I[r * E + m] = v;
    }
    I[r * E + 3] = rng.normal();
  }
  return { F, I, n };
}

const rng = new Rng(42);
const wTrue = Float32Array.from({ length: 3 * D }, () => rng.normal());
const train = synthetic(200, rng, wTrue);
const val = synthetic(120, rng, wTrue);
const T = new Float32Array(M * E);
for (let m = 0; m < M; m++) T[m * E + m] = 1;
const base = { train, val, T, M, G, D, E, lr: 1e-2, maxSteps: 400, valEvery: 10, seed: 5, engine };

test('training on a learnable synthetic case lowers the loss and keeps the best validation weights', async () => {
  const seen: number[] = [];
  const res = await trainConceptLayer({ ...base, onProgress: (p) => seen.push(p.step) });
  const h = res.history;
  assert.ok(h.length >= 3, `validated ${h.length} times`);
  assert.equal(seen.length, res.steps);
  // Concepts 0..2 can reach sim3 ≈ 1 on 4 positions each; the noise concept stays near 0.
  assert.ok(h[0]!.valLoss > res.bestValLoss + 1, `val loss ${h[0]!.valLoss} → ${res.bestValLoss}`);
  assert.ok(h.at(-1)!.trainLoss < h[0]!.trainLoss - 1);
  assert.ok(res.bestValLoss < -0.9 * 3 * G, `best val loss ${res.bestValLoss}`);
  // LF-CBM's rule: validation improves strictly until the first non-improvement, which ends training.
  for (let k = 1; k < h.length - 1; k++) assert.ok(h[k]!.valLoss < h[k - 1]!.valLoss);
  const bestEntry = h.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  assert.equal(res.bestStep, bestEntry.step);
  if (res.steps < base.maxSteps) assert.ok(h.at(-1)!.valLoss >= res.bestValLoss, 'stopped on a non-improvement');
  // The returned weights are the best ones.
  const valData = await PreparedCblData.create(engine, val, T, { G, D, E, M });
  const ev = await valData.evaluate(res.Wc);
  assert.ok(Math.abs(ev.loss - res.bestValLoss) < 1e-4);
  for (let m = 0; m < 3; m++) assert.ok(ev.conceptSim[m]! > 0.9, `concept ${m}: ${ev.conceptSim[m]}`);
  assert.ok(Math.abs(ev.conceptSim[3]!) < 0.3, `noise concept: ${ev.conceptSim[3]}`);
});

test('random subsets per step (stepSamples < N) also learn, and a seed reproduces a run exactly', async () => {
  const opts = { ...base, stepSamples: 64, maxSteps: 150 };
  const a = await trainConceptLayer(opts);
  const b = await trainConceptLayer(opts);
  assert.deepEqual(a.Wc, b.Wc);
  assert.deepEqual(a.history, b.history);
  assert.ok(a.bestValLoss < a.history[0]!.valLoss - 1);
  const c = await trainConceptLayer({ ...opts, seed: 6 });
  assert.notDeepEqual(c.Wc, a.Wc);
});

test('interpretability cutoff drops the noise concept; trainWithCutoff retrains on the kept ones', async () => {
  const res = await trainWithCutoff({ ...base, cutoff: 0.45 });
  assert.deepEqual(res.kept, [0, 1, 2]);
  assert.equal(res.report.dropped.length, 1);
  assert.equal(res.report.dropped[0]!.index, 3);
  assert.ok(res.report.dropped[0]!.similarity <= 0.45);
  assert.equal(res.Wc.length, 3 * D);
  assert.equal(res.final.Wc.length, 3 * D);
  const after = await interpretabilityCutoff({ Wc: res.Wc, val, T: selectRows(T, E, res.kept), M: 3, G, D, E, engine });
  assert.deepEqual(after.kept, [0, 1, 2]);
  for (const s of after.similarity) assert.ok(s > 0.9);
  // Warm start from the kept rows: the first validation is already as good as the first run's best.
  const warm = await trainWithCutoff({ ...base, retrainFrom: 'kept' });
  assert.ok(warm.final.history[0]!.valSim > 0.9);
});

test('init follows nn.Linear (U(−1/√D, 1/√D)); inputs are checked', async () => {
  const w = initConceptLayer(50, 16, new Rng(1));
  assert.ok(w.every((x) => Math.abs(x) <= 0.25));
  assert.ok(Math.max(...w) > 0.2 && Math.min(...w) < -0.2);
  await assert.rejects(trainConceptLayer({ ...base, T: new Float32Array(3) }), /T has 3 values, expected M×E = 16/);
  await assert.rejects(trainConceptLayer({ ...base, train: { ...train, n: 201 } }), /train\.F has/);
  await assert.rejects(trainConceptLayer({ ...base, init: new Float32Array(2) }), /init has 2 values/);
  await assert.rejects(trainConceptLayer({ ...base, maxSteps: 0 }), /maxSteps must be a positive integer/);
});

test('an interrupted run resumes from its checkpoint and ends exactly as an uninterrupted one', async () => {
  const opts = { ...base, stepSamples: 64, maxSteps: 40, valEvery: 4 };
  const whole = await trainConceptLayer(opts);
  assert.ok(whole.steps > 12, `the uninterrupted run takes ${whole.steps} steps`);
  const checkpoint = join(tempDir('salf-cbl-ckpt-'), 'cbl.safetensors');
  // Interrupted at step 10: the last checkpoint is the validation at step 8.
  await assert.rejects(
    trainConceptLayer({
      ...opts,
      checkpoint,
      onProgress: (p) => {
        if (p.step === 10) throw new Error('interrupted');
      },
    }),
    /interrupted/,
  );
  const resumedSteps: number[] = [];
  const resumed = await trainConceptLayer({ ...opts, checkpoint, onProgress: (p) => resumedSteps.push(p.step) });
  assert.equal(resumedSteps[0], 9, 'resumes after the last validation point');
  assert.deepEqual(resumed.Wc, whole.Wc);
  assert.deepEqual(resumed.history, whole.history);
  assert.equal(resumed.bestStep, whole.bestStep);
  assert.equal(resumed.steps, whole.steps);
  // A finished run is returned from its checkpoint without training.
  let called = 0;
  const again = await trainConceptLayer({ ...opts, checkpoint, onProgress: () => called++ });
  assert.equal(called, 0);
  assert.deepEqual(again.Wc, whole.Wc);
  assert.equal(again.steps, whole.steps);
  // Other options: the checkpoint is not theirs, so training starts afresh (and replaces it).
  const other = await trainConceptLayer({ ...opts, lr: 5e-3 });
  const fresh = await trainConceptLayer({ ...opts, lr: 5e-3, checkpoint, onProgress: () => called++ });
  assert.ok(called > 0);
  assert.deepEqual(fresh.Wc, other.Wc);
  writeFileSync(checkpoint, 'not a checkpoint');
  await assert.rejects(trainConceptLayer({ ...opts, checkpoint }), new RegExp(`${checkpoint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a safetensors file`));
});

test('trainWithCutoff checkpoints the first training and the retraining in two files', async () => {
  const dir = tempDir('salf-cbl-ckpt-');
  const checkpoint = join(dir, 'cbl.safetensors');
  const plain = await trainWithCutoff({ ...base, cutoff: 0.45 });
  const first = await trainWithCutoff({ ...base, cutoff: 0.45, checkpoint });
  assert.deepEqual(readdirSync(dir).sort(), ['cbl-kept.safetensors', 'cbl.safetensors']);
  assert.deepEqual(first.Wc, plain.Wc);
  let called = 0;
  const again = await trainWithCutoff({ ...base, cutoff: 0.45, checkpoint, onProgress: () => called++ });
  assert.equal(called, 0, 'both trainings are read back from their checkpoints');
  assert.deepEqual(again.Wc, plain.Wc);
  assert.deepEqual(again.kept, plain.kept);
});

test('the generator state round-trips, so a restored generator continues the same sequence', () => {
  const a = new Rng(7);
  a.next();
  const state = a.getState();
  const expected = [a.nextU32(), a.nextU32(), a.next()];
  const b = new Rng(123);
  b.setState(state);
  assert.deepEqual([b.nextU32(), b.nextU32(), b.next()], expected);
  assert.throws(() => b.setState([0, 0, 0, 0]), /not all zero/);
  assert.throws(() => b.setState([1, 2, 3]), /four 32-bit unsigned words/);
});

test('engine cleanup', async () => {
  await engine.dispose();
});

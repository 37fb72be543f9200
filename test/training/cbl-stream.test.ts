import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Float16Array } from '@petamoriken/float16';
import { join } from 'node:path';
import { tempDir } from '../helpers/paths.js';
import { Engine } from '../../src/engine/session.js';
import { PreparedCblData, type CblDims } from '../../src/training/cbl-graph.js';
import { arraySource, copyAsFloat32, loadRows, type CblRowSource } from '../../src/training/cbl-source.js';
import { StreamedCblBatch, streamBytesPerRow, streamChunkRows } from '../../src/training/cbl-stream.js';
import { interpretabilityCutoff, preparedBatchBytes, trainConceptLayer, trainWithCutoff } from '../../src/training/train-cbl.js';
import { Rng } from '../../src/rng.js';
import { maxAbsDiff, relErr } from '../helpers/numeric.js';

const engine = new Engine({ threads: 1 });

/** Random split: post-ReLU-like features with a non-zero mean, unit-norm CLIP-like embeddings with a shared direction. */
function randomSet(n: number, dims: CblDims, rng: Rng): { F: Float32Array; I: Float32Array; n: number } {
  const { G, D, E } = dims;
  const F = Float32Array.from({ length: n * G * D }, () => Math.max(0, rng.normal() + 0.3));
  const I = new Float32Array(n * G * E);
  for (let r = 0; r < n * G; r++) {
    let s = 0;
    for (let e = 0; e < E; e++) {
      const v = (e === 0 ? 2 : 0) + rng.normal();
      I[r * E + e] = v;
      s += v * v;
    }
    for (let e = 0; e < E; e++) I[r * E + e]! /= Math.sqrt(s);
  }
  return { F, I, n };
}

function unitRows(rows: number, width: number, rng: Rng): Float32Array {
  const X = Float32Array.from({ length: rows * width }, () => rng.normal());
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < width; j++) s += X[r * width + j]! ** 2;
    for (let j = 0; j < width; j++) X[r * width + j]! /= Math.sqrt(s);
  }
  return X;
}

/** A source that hands out float16 bit patterns (as an on-disk store would). */
function float16Source(set: { F: Float32Array; I: Float32Array; n: number }): CblRowSource {
  const bits = (x: Float32Array): Uint16Array => new Uint16Array(new Float16Array(x).buffer);
  const inner = arraySource(set);
  return {
    n: set.n,
    identity: () => 'f16',
    async forEachChunk(rows, maxRows, visit) {
      await inner.forEachChunk(rows, maxRows, async (c) => visit({ ...c, F: bits(c.F as Float32Array), I: bits(c.I as Float32Array) }));
    },
  };
}

const dims: CblDims = { G: 3, D: 12, E: 6, M: 5 };
const rng = new Rng(11);
const set = randomSet(37, dims, rng);
const T = unitRows(dims.M, dims.E, rng);
const W = Float32Array.from({ length: dims.M * dims.D }, () => rng.normal() * 0.3);

test('streamed loss, gradient and evaluation equal the prepared in-memory ones, for any chunk size', async () => {
  for (const reduction of ['sum', 'mean'] as const) {
    const prep = await PreparedCblData.create(engine, set, T, dims, { reduction });
    const want = await prep.lossAndGrad(W);
    const wantEv = await prep.evaluate(W);
    for (const chunkRows of [1, 5, 8, 37, 100]) {
      const st = await StreamedCblBatch.create(engine, arraySource(set), 'all', T, dims, { reduction, chunkRows });
      const got = await st.lossAndGrad(W);
      assert.ok(Math.abs(got.loss - want.loss) <= 1e-4 * Math.abs(want.loss), `${reduction} k=${chunkRows}: loss ${got.loss} vs ${want.loss}`);
      assert.ok(relErr(got.grad, want.grad) < 1e-4, `${reduction} k=${chunkRows}: grad rel err ${relErr(got.grad, want.grad)}`);
      const ev = await st.evaluate(W);
      assert.ok(Math.abs(ev.loss - wantEv.loss) <= 1e-4 * Math.abs(wantEv.loss));
      assert.ok(relErr(ev.columnSim, wantEv.columnSim) < 1e-4);
      assert.ok(relErr(ev.conceptSim, wantEv.conceptSim) < 1e-4);
      assert.ok(Math.abs(ev.meanSim - wantEv.meanSim) < 1e-5);
    }
  }
});

test('a streamed subset of rows equals the prepared subset, and the order of rows in a batch does not matter', async () => {
  const drawn = new Rng(3).sample(set.n, 20);
  const sorted = Array.from(drawn).sort((a, b) => a - b);
  const byDraw = await (await PreparedCblData.create(engine, set, T, dims, { rows: drawn })).lossAndGrad(W);
  const bySort = await (await PreparedCblData.create(engine, set, T, dims, { rows: Int32Array.from(sorted) })).lossAndGrad(W);
  assert.ok(Math.abs(byDraw.loss - bySort.loss) <= 1e-5 * Math.abs(bySort.loss));
  assert.ok(relErr(byDraw.grad, bySort.grad) < 1e-5);
  for (const chunkRows of [3, 7, 20]) {
    const st = await StreamedCblBatch.create(engine, arraySource(set), sorted, T, dims, { chunkRows });
    const got = await st.lossAndGrad(W);
    assert.ok(Math.abs(got.loss - byDraw.loss) <= 1e-4 * Math.abs(byDraw.loss));
    assert.ok(relErr(got.grad, byDraw.grad) < 1e-4);
  }
  const loaded = await loadRows(arraySource(set), sorted, dims, 6);
  assert.equal(loaded.n, 20);
  assert.deepEqual(loaded.F.subarray(0, dims.G * dims.D), set.F.subarray(sorted[0]! * dims.G * dims.D, (sorted[0]! + 1) * dims.G * dims.D));
});

test('float16 inputs give the loss and gradient of float32 inputs rounded to float16', async () => {
  const round = (x: Float32Array): Float32Array => Float32Array.from(new Float16Array(x));
  const rounded = { F: round(set.F), I: round(set.I), n: set.n };
  const want = await (await StreamedCblBatch.create(engine, arraySource(rounded), 'all', T, dims, { chunkRows: 8 })).lossAndGrad(W);
  const got = await (await StreamedCblBatch.create(engine, float16Source(set), 'all', T, dims, { chunkRows: 8 })).lossAndGrad(W);
  assert.ok(Math.abs(got.loss - want.loss) <= 1e-6 * Math.abs(want.loss), `${got.loss} vs ${want.loss}`);
  assert.ok(relErr(got.grad, want.grad) < 1e-6);
  // The JS conversion used to load float16 rows into memory agrees with the reference one.
  const all = new Uint16Array(65536).map((_, i) => i);
  const conv = new Float32Array(65536);
  copyAsFloat32(all, conv);
  const ref = Float32Array.from(new Float16Array(all.buffer));
  for (let i = 0; i < 65536; i++) assert.ok(Object.is(conv[i], ref[i]) || (Number.isNaN(conv[i]) && Number.isNaN(ref[i])), `bits ${i}`);
  const loaded = await loadRows(float16Source(set), 'all', dims, 10);
  assert.deepEqual(loaded.F, rounded.F);
  assert.deepEqual(loaded.I, rounded.I);
});

test('the streamed gradient matches finite differences of the streamed loss', async () => {
  const tiny: CblDims = { G: 2, D: 3, E: 3, M: 2 };
  const r = new Rng(5);
  const s = randomSet(9, tiny, r);
  const t = unitRows(tiny.M, tiny.E, r);
  const w0 = Float32Array.from({ length: tiny.M * tiny.D }, () => r.normal());
  const st = await StreamedCblBatch.create(engine, arraySource(s), 'all', t, tiny, { chunkRows: 4 });
  const { grad } = await st.lossAndGrad(w0);
  const h = 1e-2;
  for (let i = 0; i < w0.length; i++) {
    const wp = Float32Array.from(w0);
    const wm = Float32Array.from(w0);
    wp[i]! += h;
    wm[i]! -= h;
    const fd = ((await st.evaluate(wp)).loss - (await st.evaluate(wm)).loss) / (2 * h);
    assert.ok(Math.abs(fd - grad[i]!) < 2e-3 + 2e-2 * Math.abs(fd), `∂L/∂W[${i}]: ${grad[i]} vs finite difference ${fd}`);
  }
});

/** A learnable case (as in cbl-train.test.ts): P[.., m] = F·W_true[m] for m < 3, noise for m = 3. */
function learnable(n: number, r: Rng, wTrue: Float32Array, d: CblDims): { F: Float32Array; I: Float32Array; n: number } {
  const F = Float32Array.from({ length: n * d.G * d.D }, () => r.normal());
  const I = new Float32Array(n * d.G * d.E);
  for (let row = 0; row < n * d.G; row++) {
    for (let m = 0; m < 3; m++) {
      let v = 0;
      for (let j = 0; j < d.D; j++) v += F[row * d.D + j]! * wTrue[m * d.D + j]!;
      I[row * d.E + m] = v;
    }
    I[row * d.E + 3] = r.normal();
  }
  return { F, I, n };
}

const ld: CblDims = { G: 4, D: 8, E: 4, M: 4 };
const lr = new Rng(42);
const wTrue = Float32Array.from({ length: 3 * ld.D }, () => lr.normal());
const ltrain = learnable(120, lr, wTrue, ld);
const lval = learnable(50, lr, wTrue, ld);
const lT = new Float32Array(ld.M * ld.E);
for (let m = 0; m < ld.M; m++) lT[m * ld.E + m] = 1;
const lbase = { T: lT, ...ld, lr: 1e-2, maxSteps: 20, valEvery: 5, seed: 5, engine };

test('training streamed equals training in memory (whole set and random batches, arrays and row sources)', async () => {
  for (const stepSamples of [50000, 48]) {
    const opts = { ...lbase, stepSamples };
    const mem = await trainConceptLayer({ ...opts, train: ltrain, val: lval });
    assert.equal(mem.steps, 20);
    const variants = [
      { label: 'arrays, streamed', train: ltrain, val: lval, streaming: 'always' as const },
      {
        label: 'source, streamed',
        train: arraySource(ltrain),
        val: arraySource(lval),
        streaming: 'always' as const,
        memoryBudgetBytes: 7 * streamBytesPerRow(ld),
      }, // chunks of 7 images
      { label: 'source, in memory', train: arraySource(ltrain), val: arraySource(lval), streaming: 'never' as const },
      // auto: a budget too small for the prepared batch streams it
      { label: 'source, auto', train: arraySource(ltrain), val: arraySource(lval), memoryBudgetBytes: preparedBatchBytes(40, ld, true) },
    ];
    for (const v of variants) {
      const res = await trainConceptLayer({ ...opts, ...v });
      assert.equal(res.steps, mem.steps, v.label);
      assert.equal(res.bestStep, mem.bestStep, v.label);
      const d = maxAbsDiff(res.Wc, mem.Wc);
      if (process.env.CBL_STREAM_VERBOSE) console.log(`${v.label}, stepSamples ${stepSamples}: max |ΔW| ${d}`);
      assert.ok(d < 1e-5, `${v.label}, stepSamples ${stepSamples}: W differs by ${d}`);
      res.history.forEach((h, i) => {
        assert.equal(h.step, mem.history[i]!.step);
        assert.ok(
          Math.abs(h.valLoss - mem.history[i]!.valLoss) < 1e-4 * Math.abs(mem.history[i]!.valLoss),
          `${v.label}: val loss ${h.valLoss} vs ${mem.history[i]!.valLoss}`,
        );
        assert.ok(Math.abs(h.trainLoss - mem.history[i]!.trainLoss) < 1e-4 * Math.abs(mem.history[i]!.trainLoss) + 1e-5);
      });
    }
  }
});

test('the cutoff and trainWithCutoff run on row sources and agree with in-memory splits', async () => {
  const opts = { ...lbase, maxSteps: 60, cutoff: 0.45 };
  const mem = await trainWithCutoff({ ...opts, train: ltrain, val: lval });
  const src = await trainWithCutoff({ ...opts, train: arraySource(ltrain), val: arraySource(lval), streaming: 'always' });
  assert.deepEqual(src.kept, mem.kept);
  assert.deepEqual(mem.kept, [0, 1, 2]);
  assert.ok(maxAbsDiff(src.Wc, mem.Wc) < 1e-3);
  const rep = await interpretabilityCutoff({ Wc: mem.first.Wc, val: arraySource(lval), T: lT, ...ld, engine, streaming: 'always', memoryBudgetBytes: 1 });
  assert.ok(maxAbsDiff(rep.similarity, mem.report.similarity) < 1e-5);
  assert.deepEqual(rep.kept, mem.report.kept);
});

test('memory options are checked; a source keys checkpoints by its identity', async () => {
  const train = arraySource(ltrain);
  await assert.rejects(trainConceptLayer({ ...lbase, train, val: lval, memoryBudgetBytes: 0 }), /memoryBudgetBytes must be a positive number/);
  await assert.rejects(trainConceptLayer({ ...lbase, train, val: lval, streaming: 'sometimes' as 'auto' }), /streaming must be/);
  assert.match(train.identity(), /^arrays-sha256:[0-9a-f]{64}$/);
  assert.equal(train.identity(), arraySource({ ...ltrain, F: Float32Array.from(ltrain.F) }).identity());
  assert.notEqual(train.identity(), arraySource(lval).identity());
  const checkpoint = join(tempDir('salf-cbl-stream-ckpt-'), 'cbl.safetensors');
  const opts = { ...lbase, train, val: arraySource(lval), streaming: 'always' as const, checkpoint };
  const first = await trainConceptLayer(opts);
  let called = 0;
  const again = await trainConceptLayer({ ...opts, onProgress: () => called++ });
  assert.equal(called, 0, 'the same source content: read back from the checkpoint');
  assert.deepEqual(again.Wc, first.Wc);
  await trainConceptLayer({ ...opts, train: { ...train, identity: () => 'other content' }, onProgress: () => called++ });
  assert.ok(called > 0, 'another identity: trained afresh');
  // Rows must be ascending and distinct; a source that delivers the wrong shape is named.
  await assert.rejects(
    train.forEachChunk([3, 2], 4, async () => {}),
    /ascending and distinct/,
  );
  const bad: CblRowSource = {
    n: 10,
    identity: () => 'bad',
    forEachChunk: async (_rows, _max, visit) => visit({ F: new Float32Array(3), I: new Float32Array(3), k: 1, rows: [0] }),
  };
  await assert.rejects(trainConceptLayer({ ...lbase, train: bad, val: lval, streaming: 'always' }), /chunk's F has 3 values, expected k×G×D = 32/);
  const wide: CblRowSource = {
    n: 10,
    identity: () => 'f64',
    forEachChunk: async (_rows, _max, visit) => visit({ F: new Float64Array(32) as unknown as Float32Array, I: new Float32Array(16), k: 1, rows: [0] }),
  };
  await assert.rejects(trainConceptLayer({ ...lbase, train: wide, val: lval }), /chunk's F is a Float64Array, expected a Float32Array or float16 bits/);
});

test('engine cleanup', async () => {
  await engine.dispose();
});

test('the streamed estimate grows with every dimension, counts at least the tensors a chunk must hold, and sizes chunks to the budget', () => {
  const base: CblDims = { G: 49, D: 2048, E: 512, M: 370 };
  const at = streamBytesPerRow(base);
  for (const k of ['G', 'D', 'E', 'M'] as const) {
    assert.ok(streamBytesPerRow({ ...base, [k]: base[k] * 2 }) > at, `more ${k}, more bytes`);
  }
  // At least: the float16 chunk, its float32 cast and centred copy, and the grad graph's five
  // [G·M] products alive at its last Gemm (a², u, b, inner, h).
  const { G, D, E, M } = base;
  assert.ok(at >= G * (2 * (D + E) + 8 * (D + E) + 5 * 4 * M), 'no less than the tensors that must coexist');
  // Measured here (VmHWM over create + lossAndGrad + evaluate, chunks of 16 and 64 images): 4.07
  // MiB per image at these dimensions; the estimate may be above it, not below.
  assert.ok(at >= 4.07 * 2 ** 20 && at <= 1.5 * 4.07 * 2 ** 20, `${(at / 2 ** 20).toFixed(2)} MiB per image`);
  for (const budget of [1, at - 1, at, 10 * at + 5, 1e12]) {
    const k = streamChunkRows(base, 50_000, budget);
    assert.ok(k >= 1 && k <= 50_000);
    if (k > 1 && k < 50_000) assert.ok(k * at <= budget && (k + 1) * at > budget, `budget ${budget}: ${k} rows`);
  }
  assert.equal(streamChunkRows(base, 50_000, 10 * at + 5), 10);
  assert.equal(streamChunkRows(base, 7, 1e12), 7, 'never more than the batch');
  assert.equal(streamChunkRows(base, 50_000, 1), 1, 'at least one image');
});

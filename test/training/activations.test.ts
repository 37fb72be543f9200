import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { Engine, f32, dataF32 } from '../../src/engine/session.js';
import { buildHeadModel, POOLINGS } from '../../src/models/salf-head.js';
import { fromFloat16Bits, toFloat16Bits } from '../../src/store/float16.js';
import { asFloat32, RowStore } from '../../src/store/row-store.js';
import { ACTIVATIONS_FIELD, poolActivationsToStore } from '../../src/training/activations.js';
import { Rng } from '../../src/rng.js';
import { poolMaps } from '../../src/web/core/classify.js';
import { tempDir } from '../helpers/paths.js';
import { maxAbsDiff } from '../helpers/numeric.js';

const root = tempDir('activations-');
const engine = new Engine({ threads: 1 });
after(async () => {
  rmSync(root, { recursive: true, force: true });
  await engine.dispose();
});

const N = 37;
const G = 6; // a 2×3 grid
const D = 24;
const M = 5;
const rng = new Rng(3);
const Fbits = toFloat16Bits(Float32Array.from({ length: N * G * D }, () => rng.uniform(-1, 2)));
const F = fromFloat16Bits(Fbits); // exactly what the store holds
const Wc = Float32Array.from({ length: M * D }, () => rng.normal() * 0.3);

function store(dtype: 'float16' | 'float32'): RowStore {
  const s = RowStore.open(root, {
    kind: 'features',
    identity: { dtype },
    numRows: N,
    shardSize: 8,
    fields: [
      { name: 'F', shape: [G, D], dtype },
      { name: 'logits', shape: [3], dtype: 'float32' },
    ],
  });
  for (let i = 0; i < s.numShards; i++) {
    const { first, count } = s.shardRange(i);
    const feats = dtype === 'float16' ? Fbits.slice(first * G * D, (first + count) * G * D) : F.slice(first * G * D, (first + count) * G * D);
    s.writeShard(i, { F: feats, logits: new Float32Array(count * 3) });
  }
  return s;
}
const stores = { float16: store('float16'), float32: store('float32') };

/** The reference pooling (web/core/classify.ts) of the maps C = F·W_cᵀ, computed in float64, of the given rows. */
function reference(rows: readonly number[], pooling: (typeof POOLINGS)[number]): Float32Array {
  const out = new Float32Array(rows.length * M);
  const C = new Float64Array(M * G);
  rows.forEach((r, i) => {
    for (let g = 0; g < G; g++) {
      for (let m = 0; m < M; m++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += F[(r * G + g) * D + d]! * Wc[m * D + d]!;
        C[m * G + g] = acc;
      }
    }
    out.set(poolMaps(C, M, G, pooling), i * M);
  });
  return out;
}

function readAll(s: RowStore): Float32Array {
  const out = new Float32Array(s.numRows * M);
  for (let i = 0; i < s.numShards; i++) out.set(asFloat32(s.readShard(i).raw[ACTIVATIONS_FIELD]!), s.shardRange(i).first * M);
  return out;
}

const kept = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 !== 1 && i !== 8);
const all = Array.from({ length: N }, (_, i) => i);

for (const pooling of POOLINGS) {
  for (const dtype of ['float16', 'float32'] as const) {
    test(`chunked pooled activations equal in-memory pooling of F·W_cᵀ: ${pooling}, ${dtype} features, kept rows`, async () => {
      const out = await poolActivationsToStore({
        features: stores[dtype],
        rows: kept,
        conceptWeight: Wc,
        M,
        pooling,
        outRoot: root,
        shardSize: 7,
        chunkRows: 3,
        engine,
      });
      assert.equal(out.numRows, kept.length);
      assert.ok(out.complete);
      const got = readAll(out);
      // float32 GEMM vs float64 reference: |C| ≲ 5, D = 24 → rounding ≲ 1e-5.
      assert.ok(maxAbsDiff(got, reference(kept, pooling)) < 2e-5, `differs by ${maxAbsDiff(got, reference(kept, pooling))}`);
    });
  }

  test(`chunked pooled activations equal the SALF-CBM head's activations: ${pooling}, all rows, chunks of 5`, async () => {
    const out = await poolActivationsToStore({
      features: stores.float16,
      conceptWeight: Wc,
      M,
      pooling,
      outRoot: root,
      memoryBudget: '1GiB',
      chunkRows: 5,
      shardSize: 16,
      engine,
    });
    const head = await engine.open(
      buildHeadModel(
        { D, M, L: 2, grid: [2, 3] },
        {
          conceptWeight: Wc,
          mean: new Float32Array(M),
          std: new Float32Array(M).fill(1),
          finalWeight: new Float32Array(2 * M),
          finalBias: new Float32Array(2),
        },
        pooling,
      ),
    );
    const res = await head.run({ features: f32(F, [N, G, D]) });
    const want = dataF32(res.concept_activations!);
    // The same ops on the same values, in chunks of 5 rows instead of all 37 at once: observed
    // equal to 6e-8 (one float32 ulp; the GEMM's kernels depend on the row count; bit for bit
    // when the chunk holds all rows).
    assert.ok(maxAbsDiff(readAll(out), want) < 1e-6, `differs by ${maxAbsDiff(readAll(out), want)}`);
    assert.ok(maxAbsDiff(readAll(out), reference(all, pooling)) < 2e-5);
    await head.release();
  });
}

test('pooled activations: a finished store is reused; a missing shard is recomputed alone', async () => {
  const opts = { features: stores.float16, rows: kept, conceptWeight: Wc, M, pooling: 'mean' as const, outRoot: root, shardSize: 7, chunkRows: 4, engine };
  const first = await poolActivationsToStore(opts);
  const before = readAll(first);
  rmSync(first.shardPath(1));
  let reported = 0;
  const again = await poolActivationsToStore({ ...opts, onProgress: (p) => (reported = p.done) });
  assert.equal(again.dir, first.dir);
  assert.equal(reported, kept.length);
  assert.deepEqual(readAll(again), before);
  // Another W_c is another store.
  const other = await poolActivationsToStore({ ...opts, conceptWeight: Wc.map((w) => w * 2) });
  assert.notEqual(other.dir, first.dir);
});

test('pooled activations: clear errors for a wrong W_c, bad rows, a field that is not [G, D]', async () => {
  const base = { features: stores.float16, conceptWeight: Wc, M, pooling: 'mean' as const, outRoot: root, engine };
  await assert.rejects(poolActivationsToStore({ ...base, M: 4 }), /W_c has 120 values, expected M×D = 4×24/);
  await assert.rejects(poolActivationsToStore({ ...base, rows: [3, 2] }), /ascending and distinct/);
  await assert.rejects(poolActivationsToStore({ ...base, rows: [N] }), /outside 0\.\.36/);
  await assert.rejects(poolActivationsToStore({ ...base, field: 'logits' }), /shape \[3\], expected \[G, D\]/);
});

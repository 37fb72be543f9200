import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { RowStore } from '../../src/store/row-store.js';
import { arrayMatrix, forEachRows, loadMatrix, storeMatrix } from '../../src/training/row-matrix.js';
import { applyStandardiser, fitStandardiser, fitStandardiserStreamed, standardisedMatrix } from '../../src/training/standardise.js';
import { Rng } from '../../src/rng.js';
import { tempDir } from '../helpers/paths.js';

const root = tempDir('standardise-');
after(() => rmSync(root, { recursive: true, force: true }));

const N = 53;
const M = 7;
const rng = new Rng(5);
// Columns with very different offsets and scales, and one constant column (std 0 → 1).
const X = Float32Array.from({ length: N * M }, (_, i) => (i % M === 3 ? 2.5 : 1000 * (i % M) + rng.normal() * (1 + (i % M))));
const store = RowStore.open(root, {
  kind: 'activations',
  identity: 'x',
  numRows: N,
  shardSize: 10,
  fields: [{ name: 'activations', shape: [M], dtype: 'float32' }],
});
for (let s = 0; s < store.numShards; s++) {
  const { first, count } = store.shardRange(s);
  store.writeShard(s, { activations: X.slice(first * M, (first + count) * M) });
}

test('streamed standardiser equals fitStandardiser bit for bit (store in shards, array in blocks, a row subset)', () => {
  const want = fitStandardiser(X, N, M);
  assert.equal(want.std[3], 1);
  assert.deepEqual(fitStandardiserStreamed(storeMatrix(store, 'activations')), want);
  assert.deepEqual(fitStandardiserStreamed(arrayMatrix(X, N, M, 4)), want);
  const rows = Array.from({ length: N }, (_, i) => i).filter((i) => i % 4 !== 2);
  const sub = new Float32Array(rows.length * M);
  rows.forEach((r, i) => sub.set(X.subarray(r * M, (r + 1) * M), i * M));
  assert.deepEqual(fitStandardiserStreamed(storeMatrix(store, 'activations', rows)), fitStandardiser(sub, rows.length, M));
  assert.throws(() => fitStandardiserStreamed(arrayMatrix(X.subarray(0, M), 1, M)), /at least 2 samples/);
});

test('row matrix: standardised blocks equal applyStandardiser; chunks of exactly chunkRows across shard boundaries', async () => {
  const s = fitStandardiser(X, N, M);
  const Z = applyStandardiser(X, N, M, s);
  const streamed = standardisedMatrix(storeMatrix(store, 'activations'), s);
  assert.deepEqual(loadMatrix(streamed), Z);
  for (const chunk of [1, 3, 10, 16, 60]) {
    const seen: number[] = [];
    await forEachRows(streamed, chunk, (part, first, k) => {
      assert.equal(k, Math.min(chunk, N - first));
      assert.deepEqual(part, Z.subarray(first * M, (first + k) * M));
      seen.push(first);
    });
    assert.deepEqual(
      seen,
      Array.from({ length: Math.ceil(N / chunk) }, (_, i) => i * chunk),
    );
  }
  assert.throws(() => storeMatrix(store, 'activations', [4, 4]), /ascending and distinct/);
  assert.throws(() => storeMatrix(store, 'activations', [N]), /outside 0\.\.52/);
});

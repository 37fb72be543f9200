import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { RowStore } from '../../src/store/row-store.js';
import { fromFloat16Bits, toFloat16Bits } from '../../src/store/float16.js';
import { copyAsFloat32, type CblRowChunk } from '../../src/training/cbl-source.js';
import { storeSource } from '../../src/training/store-source.js';
import { tempDir } from '../helpers/paths.js';

const root = tempDir('salf-store-source-');
after(() => rmSync(root, { recursive: true, force: true }));

test('storeSource: chunks of any rows equal the stored rows, through a row mapping, float16 kept as bits', async () => {
  const G = 3,
    D = 4,
    E = 2,
    N = 11;
  const F = Float32Array.from({ length: N * G * D }, (_, i) => Math.cos(i) * 2);
  const I = Float32Array.from({ length: N * G * E }, (_, i) => Math.sin(i));
  const fs = RowStore.open(root, {
    kind: 'features',
    identity: 'f',
    numRows: N,
    shardSize: 4,
    fields: [{ name: 'features', shape: [G, D], dtype: 'float16' }],
  });
  const ps = RowStore.open(root, { kind: 'prompted', identity: 'p', numRows: N, shardSize: 3, fields: [{ name: 'I', shape: [G, E], dtype: 'float32' }] });
  for (let s = 0; s < fs.numShards; s++) {
    const { first, count } = fs.shardRange(s);
    fs.writeShard(s, { features: F.subarray(first * G * D, (first + count) * G * D) });
  }
  for (let s = 0; s < ps.numShards; s++) {
    const { first, count } = ps.shardRange(s);
    ps.writeShard(s, { I: I.subarray(first * G * E, (first + count) * G * E) });
  }
  // The split: store rows 1, 2, 4, 5, 6, 9, 10 (rows 0, 3, 7, 8 left out, e.g. undecodable).
  const keep = [1, 2, 4, 5, 6, 9, 10];
  const src = storeSource({ store: fs, field: 'features', rows: keep }, { store: ps, field: 'I', rows: keep });
  assert.equal(src.n, keep.length);
  const F16 = fromFloat16Bits(toFloat16Bits(F));
  for (const [rows, maxRows] of [
    ['all', 3],
    [[0, 2, 3, 6], 2],
    [[5], 4],
  ] as const) {
    const seen: number[] = [];
    await src.forEachChunk(rows, maxRows, async (c: CblRowChunk) => {
      assert.ok(c.k <= maxRows);
      assert.ok(c.F instanceof Uint16Array, 'float16 rows arrive as bits');
      const f = new Float32Array(c.F.length);
      copyAsFloat32(c.F, f);
      c.rows.forEach((r, j) => {
        const s = keep[r]!;
        assert.deepEqual(Array.from(f.subarray(j * G * D, (j + 1) * G * D)), Array.from(F16.subarray(s * G * D, (s + 1) * G * D)));
        assert.deepEqual(Array.from((c.I as Float32Array).subarray(j * G * E, (j + 1) * G * E)), Array.from(I.subarray(s * G * E, (s + 1) * G * E)));
      });
      seen.push(...c.rows);
    });
    assert.deepEqual(seen, rows === 'all' ? keep.map((_, i) => i) : rows);
  }
  assert.match(src.identity(), /^stores-sha256:/);
  const other = storeSource({ store: fs, field: 'features', rows: keep.slice(1) }, { store: ps, field: 'I', rows: keep.slice(1) });
  assert.notEqual(other.identity(), src.identity());
  await assert.rejects(
    src.forEachChunk([3, 1], 2, async () => {}),
    /ascending/,
  );
  assert.throws(() => storeSource({ store: fs, field: 'features', rows: [0, 11] }, { store: ps, field: 'I', rows: [0, 1] }), /row 11 is out of range/);
});

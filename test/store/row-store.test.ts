import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { asFloat32, RowStore, type RowStoreSpec } from '../../src/store/row-store.js';
import { fromFloat16Bits, toFloat16Bits } from '../../src/store/float16.js';

const root = mkdtempSync(join(tmpdir(), 'rowstore-'));
after(() => rmSync(root, { recursive: true, force: true }));

const spec = (over: Partial<RowStoreSpec> = {}): RowStoreSpec => ({
  kind: 'features',
  identity: { model: 'x', images: 'abc' },
  numRows: 10,
  shardSize: 4,
  fields: [
    { name: 'F', shape: [2, 3], dtype: 'float16' },
    { name: 'logits', shape: [5], dtype: 'float32' },
  ],
  ...over,
});

function rowsOf(first: number, count: number, len: number, scale: number): Float32Array {
  return Float32Array.from({ length: count * len }, (_, i) => Math.sin(first * len + i) * scale);
}

function fill(store: RowStore): void {
  for (let s = 0; s < store.numShards; s++) {
    const { first, count } = store.shardRange(s);
    store.writeShard(s, { F: rowsOf(first, count, 6, 3), logits: rowsOf(first, count, 5, 1) }, { skipped: s === 1 ? [{ row: 5, reason: 'bad' }] : [] });
  }
}

test('row store: shards round-trip, float16 rounding, last shard short, rows read back in any order', () => {
  const store = RowStore.open(root, spec());
  assert.equal(store.numShards, 3);
  assert.deepEqual(store.shardRange(2), { first: 8, count: 2 });
  assert.deepEqual(store.missingShards(), [0, 1, 2]);
  fill(store);
  assert.equal(store.complete, true);
  const again = RowStore.open(root, spec());
  assert.equal(again.dir, store.dir);
  const sh = again.readShard(1);
  assert.deepEqual(sh.meta, { skipped: [{ row: 5, reason: 'bad' }] });
  assert.deepEqual(Array.from(sh.raw.logits!), Array.from(rowsOf(4, 4, 5, 1)));
  const f16 = rowsOf(4, 4, 6, 3);
  assert.deepEqual(Array.from(asFloat32(sh.raw.F!)), Array.from(fromFloat16Bits(toFloat16Bits(f16))));
  const rows = [9, 0, 5, 4];
  const picked = asFloat32(again.readRows('F', rows));
  rows.forEach((r, i) => {
    const want = fromFloat16Bits(toFloat16Bits(rowsOf(r, 1, 6, 3)));
    assert.deepEqual(Array.from(picked.subarray(i * 6, i * 6 + 6)), Array.from(want));
  });
  const lg = again.readRows('logits', [7]) as Float32Array;
  assert.deepEqual(Array.from(lg), Array.from(rowsOf(7, 1, 5, 1)));
});

test('row store: another identity, shard size or field selects another folder', () => {
  const a = RowStore.folderFor(root, spec());
  assert.notEqual(RowStore.folderFor(root, spec({ identity: { model: 'y', images: 'abc' } })), a);
  assert.notEqual(RowStore.folderFor(root, spec({ shardSize: 5 })), a);
  assert.notEqual(RowStore.folderFor(root, spec({ fields: [{ name: 'F', shape: [2, 3], dtype: 'float32' }] })), a);
  // key order in the identity does not matter
  assert.equal(RowStore.folderFor(root, spec({ identity: { images: 'abc', model: 'x' } })), a);
});

test('row store: a corrupt shard is never used; verify removes it so it counts as missing', () => {
  const r = mkdtempSync(join(root, 'c-'));
  const store = RowStore.open(r, spec());
  fill(store);
  const path = store.shardPath(0);
  const bytes = readFileSync(path);
  bytes[bytes.length - 3]! ^= 0x40; // same size, one bit flipped in the payload
  writeFileSync(path, bytes);
  const fresh = RowStore.open(r, spec());
  assert.equal(fresh.isComplete(0), true, 'size and header still look right');
  assert.throws(
    () => fresh.readShard(0),
    (e: Error) => e.message.startsWith(path) && /checksum mismatch/.test(e.message),
  );
  assert.throws(() => fresh.readRows('F', [1]), /checksum mismatch/);
  const bad = fresh.verify();
  assert.deepEqual(
    bad.map((b) => b.shard),
    [0],
  );
  assert.deepEqual(fresh.missingShards(), [0]);
  // a truncated shard counts as missing
  writeFileSync(store.shardPath(2), readFileSync(store.shardPath(2)).subarray(0, 100));
  assert.deepEqual(fresh.missingShards(), [0, 2]);
  assert.throws(
    () => fresh.readRows('F', [1]),
    (e: Error) => e.message.startsWith(store.shardPath(0)) && /is not stored/.test(e.message),
  );
});

test('row store: wrong value counts are refused naming the shard file; stale temporaries are removed', () => {
  const r = mkdtempSync(join(root, 'w-'));
  const store = RowStore.open(r, spec());
  assert.throws(
    () => store.writeShard(0, { F: new Float32Array(5), logits: new Float32Array(20) }),
    (e: Error) => e.message.startsWith(store.shardPath(0)) && /'F' has 5 values, expected 24/.test(e.message),
  );
  assert.throws(() => store.writeShard(0, { F: new Float32Array(24) }), /'logits' is missing/);
  assert.throws(() => store.writeShard(3, { F: new Float32Array(24) }), /shard 3 is out of range/);
  const stale = join(store.dir, 'shard-000000.rows.tmp-host-1-1-aaaa');
  const fresh = join(store.dir, 'shard-000001.rows.tmp-host-2-2-bbbb');
  writeFileSync(stale, 'x');
  writeFileSync(fresh, 'x');
  const old = new Date(Date.now() - 3600_000);
  utimesSync(stale, old, old);
  RowStore.open(r, spec());
  const names = readdirSync(store.dir);
  assert.equal(names.includes('shard-000000.rows.tmp-host-1-1-aaaa'), false);
  assert.equal(names.includes('shard-000001.rows.tmp-host-2-2-bbbb'), true, 'a writer in progress elsewhere keeps its file');
});

test('row store: a manifest that does not match its folder is an error naming it', () => {
  const r = mkdtempSync(join(root, 'm-'));
  const store = RowStore.open(r, spec());
  const m = join(store.dir, 'manifest.json');
  writeFileSync(m, readFileSync(m, 'utf8').replace(/"key": "[0-9a-f]+"/, '"key": "0000"'));
  assert.throws(
    () => RowStore.open(r, spec()),
    (e: Error) => e.message.startsWith(m) && /does not match/.test(e.message),
  );
});

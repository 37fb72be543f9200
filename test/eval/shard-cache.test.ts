/** ShardCache: evaluation result shards are checksummed, written atomically and verified on every read. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { ShardCache } from '../../src/eval/shard-cache.js';
import { STALE_TEMPORARY_MS } from '../../src/data/atomic-write.js';
import { tempDir } from '../helpers/paths.js';

const identity = { model: 'm', data: 'd' };
const value = { rows: [{ method: 'salf', accuracy: 0.875 }], curves: [[1, 0.5]] };

test('a written shard reads back equal; another identity or shard size is another folder', () => {
  const root = tempDir();
  const cache = new ShardCache(root, 'results', identity, 4);
  assert.equal(cache.readJson(0), undefined, 'not written yet');
  cache.writeJson(0, value);
  assert.deepEqual(cache.readJson(0), value);
  assert.deepEqual(new ShardCache(root, 'results', identity, 4).readJson(0), value, 'a rerun finds it');
  assert.notEqual(new ShardCache(root, 'results', { ...identity, data: 'e' }, 4).dir, cache.dir);
  assert.notEqual(new ShardCache(root, 'results', identity, 5).dir, cache.dir);
  assert.deepEqual(readdirSync(cache.dir).sort(), ['identity.json', 'shard-000000.jsonl'], 'no temporaries left');
});

test('a shard changed in place at the same size is refused with an error naming the file', () => {
  const cache = new ShardCache(tempDir(), 'results', identity, 4);
  cache.writeJson(0, value);
  const path = cache.path(0);
  const text = readFileSync(path, 'utf8');
  const changed = text.replace('0.875', '0.975');
  assert.equal(changed.length, text.length);
  writeFileSync(path, changed);
  assert.throws(
    () => cache.readJson(0),
    (err: Error) => {
      assert.ok(err.message.startsWith(`${path}: corrupt evaluation shard (checksum mismatch)`), err.message);
      assert.match(err.message, /delete the file and rerun to recompute it/);
      return true;
    },
  );
  writeFileSync(path, text);
  assert.deepEqual(cache.readJson(0), value, 'the original bytes verify again');
  // Deleting it, as the message says, makes it count as missing, so the rerun recomputes it.
  rmSync(path);
  assert.equal(cache.readJson(0), undefined);
});

test('a truncated shard, a lengthened one and a file of another format are refused', () => {
  const cache = new ShardCache(tempDir(), 'results', identity, 4);
  cache.writeJson(1, value);
  const path = cache.path(1);
  const text = readFileSync(path, 'utf8');
  writeFileSync(path, text.slice(0, text.length - 10));
  assert.throws(() => cache.readJson(1), new RegExp(`${escape(path)}: corrupt evaluation shard \\(holds \\d+ bytes, expected \\d+\\)`));
  writeFileSync(path, text + '{}\n');
  assert.throws(() => cache.readJson(1), /corrupt evaluation shard \(holds \d+ bytes, expected \d+\)/);
  writeFileSync(path, text.slice(0, text.indexOf('\n')));
  assert.throws(() => cache.readJson(1), /corrupt evaluation shard \(no header line\)/);
  writeFileSync(path, JSON.stringify(value) + '\n');
  assert.throws(() => cache.readJson(1), /corrupt evaluation shard \(not a salf-cbm\.json-shard version 1 file\)/);
  writeFileSync(path, 'null\n{}\n');
  assert.throws(() => cache.readJson(1), /corrupt evaluation shard \(unreadable header\)/);
});

test('a temporary left by a killed writer is not taken for the shard, and a stale one is swept', () => {
  const root = tempDir();
  const cache = new ShardCache(root, 'results', identity, 4);
  cache.writeJson(0, value);
  const full = readFileSync(cache.path(0));
  // A writer killed before its rename leaves a (here half-written) temporary and no shard.
  const stale = `${cache.path(1)}.tmp-1234-1`;
  const fresh = `${cache.path(2)}.tmp-5678-2`;
  writeFileSync(stale, full.subarray(0, 20));
  writeFileSync(fresh, full.subarray(0, 20));
  const old = (Date.now() - STALE_TEMPORARY_MS - 60_000) / 1000;
  utimesSync(stale, old, old);
  assert.equal(cache.readJson(1), undefined, 'shard 1 counts as missing');
  assert.equal(cache.readJson(2), undefined, 'shard 2 counts as missing');
  const reopened = new ShardCache(root, 'results', identity, 4);
  assert.ok(!existsSync(stale), 'the stale temporary is deleted');
  assert.ok(existsSync(fresh), "a recent one (perhaps a live writer's) is left alone");
  reopened.writeJson(1, value);
  assert.deepEqual(reopened.readJson(1), value);
  assert.equal(statSync(reopened.path(1)).size, full.length);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

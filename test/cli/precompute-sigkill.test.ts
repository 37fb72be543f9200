/**
 * A `salf-cbm precompute` process killed with SIGKILL (no handler runs) as soon as its first
 * shard file appears leaves a store that is incomplete but never wrong: rerunning the same
 * command completes it, every shard's checksum verifies, and the files equal byte for byte those
 * of a run that was never killed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStores, PRECOMPUTE_STAGES, precomputeWorker } from '../../src/training/precompute.js';
import { repoRoot } from '../helpers/paths.js';
import { precomputeFixture, runCliAsync, storeFiles } from '../helpers/precompute-fixture.js';

/** Shard files (`shard-*.rows`, complete or not) under the store folders of `cacheDir`. */
function shardFiles(cacheDir: string): string[] {
  if (!existsSync(cacheDir)) return [];
  return readdirSync(cacheDir, { recursive: true, encoding: 'utf8' }).filter((f) => /shard-\d+\.rows$/.test(f));
}

/** Starts `salf-cbm precompute …`, SIGKILLs it when its first shard file appears; resolves with how it ended. */
function precomputeKilledAtFirstShard(args: string[], cacheDir: string): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  const compiled = fileURLToPath(import.meta.url).endsWith('.js');
  const entry = compiled ? join(repoRoot(), 'dist', 'src', 'cli', 'main.js') : join(repoRoot(), 'src', 'cli', 'main.ts');
  const child = spawn(process.execPath, [...(compiled ? [] : ['--import', 'tsx']), entry, 'precompute', ...args, '--cache-dir', cacheDir], {
    cwd: repoRoot(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const poll = setInterval(() => {
    if (shardFiles(cacheDir).length > 0) child.kill('SIGKILL');
  }, 5);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stderr });
    }),
  );
}

/** Store files without a dead writer's temporaries (`*.tmp-*`, never read as shards). */
function withoutTemporaries(files: Map<string, Buffer>): Map<string, Buffer> {
  return new Map([...files].filter(([name]) => !name.includes('.tmp-')));
}

test('a precompute process SIGKILLed after its first shard is completed by a rerun, byte-identical to an unkilled run', { timeout: 300_000 }, async () => {
  const fx = await precomputeFixture();
  const reference = join(fx.root, 'reference');
  await precomputeWorker(fx.inputs(reference), PRECOMPUTE_STAGES, { index: 0, count: 1, source: 'test' }, fx.args);
  const want = storeFiles(reference);

  const killed = join(fx.root, 'killed');
  const run = await precomputeKilledAtFirstShard(fx.args, killed);
  assert.equal(run.signal, 'SIGKILL', `the worker ended by itself (code ${run.code}) before it could be killed: ${run.stderr}`);
  const left = await openStores(fx.inputs(killed), PRECOMPUTE_STAGES);
  const missing = [...left.stages.values()].flat().reduce((n, s) => n + s.store.missingShards().length, 0);
  const stored = [...left.stages.values()].flat().reduce((n, s) => n + s.store.numShards - s.store.missingShards().length, 0);
  await left.engine.dispose();
  assert.ok(missing > 0, 'the kill left shards to do');
  assert.ok(stored >= 1, 'and at least the first shard, complete');

  const rerun = await runCliAsync(['precompute', ...fx.args, '--cache-dir', killed]);
  assert.equal(rerun.code, 0, rerun.stderr);
  const stores = await openStores(fx.inputs(killed), PRECOMPUTE_STAGES);
  for (const { name, store } of [...stores.stages.values()].flat()) {
    assert.deepEqual(store.missingShards(), [], `${name}: complete`);
    assert.deepEqual(store.verify(), [], `${name}: every checksum verifies`);
  }
  await stores.engine.dispose();
  const got = withoutTemporaries(storeFiles(killed));
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [name, bytes] of want) assert.equal(Buffer.compare(got.get(name)!, bytes), 0, `${name} is byte-identical`);
});

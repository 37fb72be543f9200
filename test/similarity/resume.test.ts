import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { EmbeddingStore } from '../../src/similarity/embedding-store.js';
import { writeRawImages } from './fake-encoder.js';
import { childEncoder, resumeJob, resumeStoreOptions, type ChildConfig } from './resume-child.js';

const here = fileURLToPath(import.meta.url);
const ext = extname(here);
const childScript = join(here, '..', `resume-child${ext}`);

function spawnChild(config: ChildConfig): ChildProcess {
  const args = ext === '.ts' ? ['--import', 'tsx', childScript] : [childScript];
  return spawn(process.execPath, args, {
    cwd: repoRoot(),
    env: { ...process.env, SALF_RESUME_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

const shardFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => /^shard-\d+\.rows$/.test(f)) : []);

test('a killed run resumes from its completed shards and ends identical to an uninterrupted run', async () => {
  const root = tempDir();
  const size = 32;
  const images = writeRawImages(root, 12, size, 40);
  const config: ChildConfig = { images, cacheDir: join(root, 'cache'), size, delayMs: 60 };

  // Reference: one uninterrupted run, in this process, with the same encoder.
  const refEncoder = childEncoder(config, 0);
  const reference = await resumeJob({ ...config, cacheDir: join(root, 'reference') }, refEncoder);
  const refData = reference.readAll();
  const storeDir = join(config.cacheDir, reference.dir.split(/[\\/]/).pop()!);

  // Run 1: SIGKILL once two shards are on disk (the child is then busy encoding).
  const c1 = spawnChild(config);
  let err1 = '';
  c1.stderr!.on('data', (d) => (err1 += d));
  const exit1 = exited(c1);
  const deadline = Date.now() + 60_000;
  while (shardFiles(storeDir).length < 2) {
    assert.ok(Date.now() < deadline, `child 1 wrote no shards in time: ${err1}`);
    const early = await Promise.race([exit1, new Promise((r) => setTimeout(() => r(undefined), 10))]);
    assert.equal(early, undefined, `child 1 exited early: ${err1}`);
  }
  c1.kill('SIGKILL');
  assert.equal((await exit1).signal, 'SIGKILL');
  const after1 = shardFiles(storeDir).length;
  assert.ok(after1 >= 2 && after1 < 6, `${after1} shards after the kill`);

  // Run 2: resumes, writes the next shard's temporary file, and is killed before the rename.
  const s1 = await EmbeddingStore.open(resumeStoreOptions(config, refEncoder));
  const missing = s1.missingShards();
  assert.equal(missing.length, 6 - after1);
  const pauseAt = missing[1] ?? missing[0]!;
  const c2 = spawnChild({ ...config, pauseAtShard: pauseAt });
  let out2 = '';
  let err2 = '';
  c2.stderr!.on('data', (d) => (err2 += d));
  const exit2 = exited(c2);
  const tmp = await new Promise<string>((resolve, reject) => {
    c2.stdout!.on('data', (d) => {
      out2 += d;
      const m = /paused (\S+)\n/.exec(out2);
      if (m) resolve(m[1]!);
    });
    void exit2.then(() => reject(new Error(`child 2 exited before pausing: ${err2}`)));
  });
  assert.ok(existsSync(tmp), 'the temporary shard file exists while the child waits');
  assert.ok(statSync(tmp).size > 32);
  c2.kill('SIGKILL');
  await exit2;
  assert.ok(!existsSync(join(storeDir, `shard-${String(pauseAt).padStart(6, '0')}.rows`)), 'the paused shard was never committed');

  // Every shard file under its final name is complete; the temporary one is not counted. The
  // killed writer ran on this machine and is gone, so its temporary is removed at once; a fresh
  // temporary of another machine's writer (maybe alive) is left alone until it is old.
  const foreign = join(storeDir, `shard-${String(pauseAt).padStart(6, '0')}.rows.tmp-another-host-1-1`);
  writeFileSync(foreign, 'partial');
  const s2 = await EmbeddingStore.open(resumeStoreOptions(config, refEncoder));
  assert.equal(s2.dir, storeDir);
  assert.ok(!s2.isComplete(pauseAt));
  assert.ok(!existsSync(tmp), "the dead local writer's temporary file is removed when the store is reopened");
  assert.ok(existsSync(foreign), 'a fresh temporary file of another machine is left alone');
  utimesSync(foreign, new Date(0), new Date(0));
  await EmbeddingStore.open(resumeStoreOptions(config, refEncoder));
  assert.ok(!existsSync(foreign), 'an old temporary file of another machine is removed');
  await refEncoder.dispose();
  for (const f of shardFiles(storeDir)) {
    const i = Number(/\d+/.exec(f)![0]);
    assert.ok(s2.isComplete(i), `${f} is complete`);
  }
  const remaining = s2.missingShards();
  assert.ok(remaining.includes(pauseAt));

  // Run 3 (in process): completes the rest only.
  const encoder = childEncoder(config, 0);
  const final = await resumeJob(config, encoder);
  const expectedImages = remaining.reduce((n, i) => n + final.shardRange(i).count, 0);
  assert.equal(encoder.imagesSeen, expectedImages * 4, 'only the missing shards were encoded');
  await encoder.dispose();

  assert.ok(final.complete);
  const data = final.readAll();
  assert.equal(Buffer.compare(Buffer.from(data.buffer), Buffer.from(refData.buffer)), 0, 'resumed result equals the uninterrupted one');
  for (let i = 0; i < 6; i++) {
    const a = readFileSync(final.shardPath(i));
    const b = readFileSync(reference.shardPath(i));
    assert.equal(Buffer.compare(a, b), 0, `shard ${i} bytes`);
  }
});

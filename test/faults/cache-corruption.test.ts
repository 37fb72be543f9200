/**
 * Fault injection, in-place corruption: one byte of a cache file changed without changing its
 * size (a features shard, a prompted-embeddings shard, the concept-layer checkpoint, a pooled
 * activations shard) makes a rerun that reads it fail with an error naming the file, never train
 * on it. (Model files: test/models/model-folder.test.ts.) Tiny random-weight models: plumbing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainSalfCbm, type TrainSalfCbmOptions } from '../../src/training/train-salf-cbm.js';
import { tempDir } from '../helpers/paths.js';
import { writeTinyTrainingInputs } from '../helpers/tiny-training.js';

/** Flips one bit near the end of `path` (the data, not the header), keeping its size. */
function flipByte(path: string): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - 6]! ^= 0x10;
  writeFileSync(path, bytes);
}

test('a cache file changed in place (same size) is refused on rerun, naming the file', async () => {
  const root = tempDir('salf-faults-cache-');
  const inputs = await writeTinyTrainingInputs(root);
  const options = (cacheDir: string): TrainSalfCbmOptions => ({
    ...inputs,
    concepts: ['red', 'blue', 'green', 'striped'],
    out: join(root, 'model'),
    cacheDir,
    grid: [3, 3],
    shardSize: 4,
    cbl: { maxSteps: 10, valEvery: 5, cutoff: -1 },
    finalLayer: { mode: 'sparse', lam: 1e-3, epochsPerLambda: 20 },
  });
  const clean = join(root, 'clean');
  await trainSalfCbm(options(clean));
  const storeDir = (cache: string, prefix: string): string =>
    join(
      cache,
      readdirSync(cache)
        .filter((d) => d.startsWith(prefix))
        .sort()[0]!,
    );

  const cases: { name: string; file: (cache: string) => string; error: RegExp }[] = [
    {
      name: 'features shard',
      file: (c) => join(storeDir(c, 'features-'), 'shard-000000.rows'),
      error: /features-[0-9a-f]+[\\/]shard-000000\.rows: .*checksum/,
    },
    {
      name: 'embeddings shard',
      file: (c) => join(storeDir(c, 'prompted-'), 'shard-000000.rows'),
      error: /prompted-[0-9a-f]+[\\/]shard-000000\.rows: .*checksum/,
    },
    {
      name: 'concept-layer checkpoint',
      file: (c) => join(c, 'concept-layer.safetensors'),
      error: /concept-layer\.safetensors: the concept-layer checkpoint is corrupt/,
    },
    {
      name: 'activations shard',
      file: (c) => join(storeDir(c, 'activations-'), 'shard-000000.rows'),
      error: /activations-[0-9a-f]+[\\/]shard-000000\.rows: .*checksum/,
    },
  ];
  for (const { name, file, error } of cases) {
    const cache = join(root, name.replace(/\W+/g, '-'));
    cpSync(clean, cache, { recursive: true });
    flipByte(file(cache));
    await assert.rejects(trainSalfCbm(options(cache)), error, name);
    rmSync(cache, { recursive: true });
  }
  rmSync(root, { recursive: true });
});

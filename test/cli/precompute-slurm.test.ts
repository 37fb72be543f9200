/**
 * 4 `salf-cbm precompute` workers started with Slurm array variables fill a cache whose stores
 * are byte-identical to one process's, and training from it gives the same model as training
 * from the one-process cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SalfCbm } from '../../src/models/salf-cbm.js';
import { PRECOMPUTE_STAGES, precomputeWorker } from '../../src/training/precompute.js';
import { trainSalfCbm } from '../../src/training/train-salf-cbm.js';
import { precomputeFixture, runCliAsync, storeFiles } from '../helpers/precompute-fixture.js';

test('4 Slurm array workers produce the one-process stores byte for byte, and the same trained model', async () => {
  const fx = await precomputeFixture();
  const single = join(fx.root, 'single');
  const slurm = join(fx.root, 'slurm');
  await precomputeWorker(fx.inputs(single), PRECOMPUTE_STAGES, { index: 0, count: 1, source: 'test' }, fx.args);

  const runs = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      runCliAsync(['precompute', ...fx.args, '--cache-dir', slurm], {
        SLURM_ARRAY_TASK_ID: String(i + 10),
        SLURM_ARRAY_TASK_MIN: '10',
        SLURM_ARRAY_TASK_MAX: '13',
        SLURM_ARRAY_TASK_COUNT: '4',
      }),
    ),
  );
  runs.forEach((r, i) => {
    assert.equal(r.code, 0, `worker ${i}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`worker ${i}/4 \\(Slurm array task ${i + 10} of 10\\.\\.13\\): done`));
  });
  const record = JSON.parse(readFileSync(join(slurm, 'jobs', 'features.json'), 'utf8'));
  assert.equal(record.workers, 4);

  const a = storeFiles(single);
  const b = storeFiles(slurm);
  assert.deepEqual([...b.keys()], [...a.keys()], 'the same store folders and files');
  assert.equal([...a.keys()].filter((k) => k.endsWith('.rows')).length, 6 + 2 + 8);
  for (const [name, bytes] of a) assert.equal(Buffer.compare(b.get(name)!, bytes), 0, `${name} is byte-identical`);

  const train = async (cacheDir: string, out: string) => {
    await trainSalfCbm({
      ...fx.inputs(cacheDir),
      concepts: ['red', 'blue', 'green', 'round'],
      out: join(fx.root, out),
      cbl: { maxSteps: 10, valEvery: 5, cutoff: -1 },
      finalLayer: { mode: 'sparse', lam: 1e-3, epochsPerLambda: 30 },
    });
    return SalfCbm.load(join(fx.root, out)).weights;
  };
  const w1 = await train(single, 'model-single');
  const w4 = await train(slurm, 'model-slurm');
  assert.deepEqual(Array.from(w4.conceptWeight), Array.from(w1.conceptWeight));
  assert.deepEqual(Array.from(w4.finalWeight), Array.from(w1.finalWeight));
  assert.deepEqual(Array.from(w4.finalBias), Array.from(w1.finalBias));
});

/**
 * Bad input to a distributed pre-computation: a worker index out of range, another worker count
 * in the same cache, a worker with other options or models, a full disk (the error names the
 * file and no half-written shard counts as stored), `status --verify` on a corrupt shard, and
 * `train` on an incomplete job.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRECOMPUTE_STAGES, openStores, precomputeWorker, status } from '../../src/training/precompute.js';
import { trainSalfCbm } from '../../src/training/train-salf-cbm.js';
import { precomputeFixture, runCliAsync } from '../helpers/precompute-fixture.js';

test('a worker index out of range is refused before any work', async () => {
  const fx = await precomputeFixture();
  const r = await runCliAsync(['precompute', ...fx.args, '--cache-dir', join(fx.root, 'c')], { JOB_COMPLETION_INDEX: '3', SALF_CBM_SHARD_COUNT: '3' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Kubernetes completion index 3 of 3: worker index 3 is out of range for 3 worker\(s\) \(0\.\.2\)/);
  assert.ok(!existsSync(join(fx.root, 'c')), 'nothing was written');
});

test('other worker counts, options or models in one cache are refused through the job record', async () => {
  const fx = await precomputeFixture();
  const cache = join(fx.root, 'c');
  const w = (index: number, count: number) => ({ index, count, source: `--shard ${index}/${count}` });
  await precomputeWorker(fx.inputs(cache), ['features'], w(0, 3), fx.args);
  await assert.rejects(
    precomputeWorker(fx.inputs(cache), ['features'], w(1, 2), fx.args),
    /jobs[\\/]features\.json: this job runs with 3 worker\(s\), but this worker is --shard 1\/2 \(2 workers\).*delete .*features\.json \(stored shards are kept and reused\)/,
  );
  await assert.rejects(
    precomputeWorker({ ...fx.inputs(cache), grid: [2, 2] }, ['features'], w(1, 3), fx.args),
    /features \(train\): grid differ; features \(val\): grid differ/,
  );
  const other = fx.inputs(cache);
  other.backbone = { ...other.backbone, preprocess: { ...other.backbone.preprocess, mean: [0.4, 0.5, 0.5] } };
  await assert.rejects(precomputeWorker(other, ['features'], w(1, 3), fx.args), /config\.preprocess\.mean differ.*start a fresh job: delete/);
  // The refused workers computed nothing: worker 0's block only.
  const stores = await openStores(fx.inputs(cache), ['features']);
  assert.deepEqual(stores.train.features!.missingShards(), [2, 3, 4, 5]);
  await stores.engine.dispose();
});

test('a full disk names the shard file and leaves no shard that looks stored; train refuses the incomplete job unless asked', async () => {
  const fx = await precomputeFixture();
  const cache = join(fx.root, 'c');
  const full = (shard: number): void => {
    if (shard === 1) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  };
  await assert.rejects(
    precomputeWorker({ ...fx.inputs(cache), beforeShardCommit: full }, PRECOMPUTE_STAGES, { index: 0, count: 1, source: 'test' }, fx.args),
    /features-[0-9a-f]+[\\/]shard-000001\.rows: cannot write the shard \(ENOSPC\)/,
  );
  const stores = await openStores(fx.inputs(cache), PRECOMPUTE_STAGES);
  assert.deepEqual(stores.train.features!.missingShards(), [1, 2, 3, 4, 5]);
  assert.ok(!readdirSync(stores.train.features!.dir).some((f) => f.includes('.tmp-')), 'no temporary file is left');
  assert.equal(status(stores, []).complete, false);

  // `salf-cbm status --verify`: a corrupt shard (one flipped byte) is removed and listed as
  // missing, with the command that redoes the shards of this one-worker job.
  const shard0 = stores.train.features!.store.shardPath(0);
  const bytes = readFileSync(shard0);
  bytes[bytes.length - 1]! ^= 1;
  writeFileSync(shard0, bytes);
  const r = await runCliAsync(['status', ...fx.args, '--cache-dir', cache, '--verify']);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /features \(train\): removed corrupt shard 0 \(.*checksum mismatch/);
  assert.match(r.stdout, /features \(train\): 6 of 6 shard\(s\) missing \(0-5\)/);
  assert.match(r.stdout, /worker 0\/1 has shards to do: salf-cbm precompute --data .* --stage features --shard 0\/1\n/);
  assert.match(r.stdout, /incomplete: 2 worker command\(s\) to run/);

  const model = {
    concepts: ['red', 'blue', 'round'],
    out: join(fx.root, 'model'),
    cbl: { maxSteps: 5, valEvery: 5, cutoff: -1 },
    finalLayer: { mode: 'dense' as const, epochsPerLambda: 10 },
  };
  await assert.rejects(
    trainSalfCbm({ ...fx.inputs(cache), ...model }),
    /features\.json: the distributed pre-computation is not complete:[\s\S]*features \(train\): 6 of 6 shard\(s\) missing \(0-5\)[\s\S]*salf-cbm precompute --data .* --stage features --shard 0\/1[\s\S]*--compute-missing/,
  );
  const { metrics } = await trainSalfCbm({ ...fx.inputs(cache), ...model, computeMissing: true });
  assert.equal(metrics.numTrain, 12);
  assert.ok(status(await openStores(fx.inputs(cache), PRECOMPUTE_STAGES), []).complete);
  await stores.engine.dispose();
});

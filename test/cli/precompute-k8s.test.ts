/**
 * 3 `salf-cbm precompute` workers started with Kubernetes Indexed Job variables fill a cache
 * byte-identical to one process's; after a worker's shards are lost (one deleted, one cut short
 * as by a kill, a temporary file left behind), the status names the worker and the exact
 * command, and running that command restores the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStores, PRECOMPUTE_STAGES, precomputeWorker, status } from '../../src/training/precompute.js';
import { precomputeFixture, runCliAsync, storeFiles } from '../helpers/precompute-fixture.js';

test('3 Kubernetes Indexed Job workers match one process; a lost shard is listed by status and redone by its command', async () => {
  const fx = await precomputeFixture();
  const single = join(fx.root, 'single');
  const k8s = join(fx.root, 'k8s');
  await precomputeWorker(fx.inputs(single), PRECOMPUTE_STAGES, { index: 0, count: 1, source: 'test' }, fx.args);
  const reference = storeFiles(single);

  const runs = await Promise.all(
    [0, 1, 2].map((i) => runCliAsync(['precompute', ...fx.args, '--cache-dir', k8s], { JOB_COMPLETION_INDEX: String(i), SALF_CBM_SHARD_COUNT: '3' })),
  );
  runs.forEach((r, i) => {
    assert.equal(r.code, 0, `worker ${i}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`worker ${i}/3 \\(Kubernetes completion index ${i} of 3\\): done`));
  });
  const same = (): void => {
    const got = storeFiles(k8s);
    assert.deepEqual([...got.keys()], [...reference.keys()]);
    for (const [name, bytes] of reference) assert.equal(Buffer.compare(got.get(name)!, bytes), 0, `${name} is byte-identical`);
  };
  same();

  // Worker 1's shards are lost: features (train) shard 2 deleted, prompted shard 4 cut short,
  // and a temporary file of the dead writer left behind.
  const folder = (kind: string, rows: number): string =>
    readdirSync(k8s)
      .filter((d) => d.startsWith(kind))
      .find((d) => storeFiles(k8s).has(`${d}/shard-${String(rows).padStart(6, '0')}.rows`))!;
  const featDir = join(k8s, folder('features', 5));
  const promptedDir = join(k8s, folder('prompted', 7));
  unlinkSync(join(featDir, 'shard-000002.rows'));
  const cut = join(promptedDir, 'shard-000004.rows');
  truncateSync(cut, statSync(cut).size - 100);
  const tmp = join(featDir, 'shard-000002.rows.tmp-host-1-1');
  writeFileSync(tmp, 'partial');
  utimesSync(tmp, new Date(0), new Date(0));

  const stores = await openStores(fx.inputs(k8s), PRECOMPUTE_STAGES);
  const text = status(stores, []).lines.join('\n');
  await stores.engine.dispose();
  assert.match(text, /features \(train\): 1 of 6 shard\(s\) missing \(2\)/);
  assert.match(text, /prompted embeddings \(train\+val\): 1 of 8 shard\(s\) missing \(4\)/);
  const commands = [...text.matchAll(/worker (\d)\/3 has shards to do: salf-cbm (.*)$/gm)].map((m) => ({ worker: m[1], args: m[2]!.split(' ') }));
  assert.deepEqual(
    commands.map((c) => c.worker),
    ['1', '1'],
    'worker 1 owns both lost shards',
  );
  assert.deepEqual(
    commands.map((c) => c.args.slice(-4)),
    [
      ['--stage', 'features', '--shard', '1/3'],
      ['--stage', 'embeddings', '--shard', '1/3'],
    ],
  );

  for (const r of await Promise.all(commands.map((c) => runCliAsync(c.args)))) assert.equal(r.code, 0, r.stderr);
  same();
  assert.ok(!existsSync(tmp), "the dead writer's temporary file is removed");
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWorkerShard, resolveWorkerShard, shardsOfWorker } from '../../src/store/worker-shard.js';

test('worker shard: --shard i/N, and its errors', () => {
  assert.deepEqual(parseWorkerShard('2/5'), { index: 2, count: 5, source: '--shard' });
  assert.throws(() => parseWorkerShard('5/5'), /worker index 5 is out of range for 5 worker\(s\) \(0\.\.4\)/);
  assert.throws(() => parseWorkerShard('1/0'), /positive integer/);
  assert.throws(() => parseWorkerShard('a/3'), /expected i\/N/);
});

test('worker shard: Slurm arrays (COUNT, or MIN/MAX) and Kubernetes Indexed Jobs', () => {
  assert.deepEqual(resolveWorkerShard({}, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }).index, 3);
  const mm = resolveWorkerShard({}, { SLURM_ARRAY_TASK_ID: '12', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_MAX: '13' });
  assert.deepEqual([mm.index, mm.count], [2, 4]);
  assert.throws(() => resolveWorkerShard({}, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' }), /out of range/);
  assert.throws(() => resolveWorkerShard({}, { SLURM_ARRAY_TASK_ID: '1' }), /without SLURM_ARRAY_TASK_COUNT/);
  assert.throws(
    () => resolveWorkerShard({}, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '9', SLURM_ARRAY_TASK_COUNT: '5' }),
    /contiguous/,
  );
  const k = resolveWorkerShard({}, { JOB_COMPLETION_INDEX: '2', SALF_CBM_SHARD_COUNT: '3' });
  assert.deepEqual([k.index, k.count], [2, 3]);
  assert.deepEqual(resolveWorkerShard({ shardCount: 5 }, { JOB_COMPLETION_INDEX: '4' }).count, 5);
  assert.throws(() => resolveWorkerShard({}, { JOB_COMPLETION_INDEX: '0' }), /--shard-count or set SALF_CBM_SHARD_COUNT/);
  assert.deepEqual(resolveWorkerShard({ shard: '1/2' }, { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '4' }).count, 2, '--shard wins');
  assert.deepEqual(resolveWorkerShard({}, {}), { index: 0, count: 1, source: 'single process' });
});

test('worker shard: N workers cover every store shard exactly once', () => {
  for (const [S, N] of [
    [10, 4],
    [3, 5],
    [64, 7],
    [1, 1],
  ] as const) {
    const seen = new Array<number>(S).fill(0);
    for (let i = 0; i < N; i++) {
      const { first, end } = shardsOfWorker({ index: i, count: N, source: '' }, S);
      for (let s = first; s < end; s++) seen[s]!++;
    }
    assert.deepEqual(seen, new Array<number>(S).fill(1), `${S} shards, ${N} workers`);
  }
});

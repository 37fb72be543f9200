/**
 * Which part of a pre-computation this process does: worker `index` of `count` independent
 * workers, from `--shard i/N` or from the environment of the schedulers people already run:
 *
 * - Slurm job arrays: `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT`, or with
 *   `SLURM_ARRAY_TASK_MIN`/`SLURM_ARRAY_TASK_MAX` (index = ID − MIN, count = MAX − MIN + 1);
 * - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX`, with the count (the Job's `completions`,
 *   which Kubernetes does not expose) from `--shard-count` or `SALF_CBM_SHARD_COUNT`, set in the
 *   deployment manifest.
 *
 * A worker takes a contiguous block of a store's shards, so N workers cover every shard exactly
 * once whatever the number of shards.
 */

/** Worker `index` (0-based) of `count`. */
export interface WorkerShard {
  index: number;
  count: number;
  /** Where the assignment came from, for messages. */
  source: string;
}

/** Parses `i/N` (0 ≤ i < N). */
export function parseWorkerShard(text: string, source = '--shard'): WorkerShard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`${source}: expected i/N (worker i of N, counting from 0), got '${text}'`);
  return checked(Number(m[1]), Number(m[2]), source);
}

function checked(index: number, count: number, source: string): WorkerShard {
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`${source}: the number of workers must be a positive integer, got ${count}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new Error(`${source}: worker index ${index} is out of range for ${count} worker(s) (0..${count - 1})`);
  }
  return { index, count, source };
}

function intVar(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Error(`${name}='${v}' is not a non-negative integer`);
  return Number(v);
}

/**
 * The worker assignment: `--shard` when given, else Slurm's or Kubernetes' variables, else
 * the whole job (worker 0 of 1). `shardCount` is `--shard-count` (Kubernetes only).
 */
export function resolveWorkerShard(options: { shard?: string; shardCount?: number }, env: NodeJS.ProcessEnv = process.env): WorkerShard {
  if (options.shard !== undefined) return parseWorkerShard(options.shard);
  const slurmId = intVar(env, 'SLURM_ARRAY_TASK_ID');
  if (slurmId !== undefined) {
    const count = intVar(env, 'SLURM_ARRAY_TASK_COUNT');
    const min = intVar(env, 'SLURM_ARRAY_TASK_MIN');
    const max = intVar(env, 'SLURM_ARRAY_TASK_MAX');
    if (min !== undefined && max !== undefined) {
      if (max < min) throw new Error(`SLURM_ARRAY_TASK_MAX (${max}) is below SLURM_ARRAY_TASK_MIN (${min})`);
      const c = max - min + 1;
      if (count !== undefined && count !== c) {
        throw new Error(`SLURM_ARRAY_TASK_COUNT=${count} but MIN..MAX = ${min}..${max} holds ${c} tasks: use a contiguous array (--array=0-${count - 1})`);
      }
      return checked(slurmId - min, c, `Slurm array task ${slurmId} of ${min}..${max}`);
    }
    if (count !== undefined) return checked(slurmId, count, `Slurm array task ${slurmId} of ${count}`);
    throw new Error('SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MIN/MAX');
  }
  const k8s = intVar(env, 'JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    const count = options.shardCount ?? intVar(env, 'SALF_CBM_SHARD_COUNT');
    if (count === undefined) {
      throw new Error(
        "JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job) but not the number of workers: pass --shard-count or set SALF_CBM_SHARD_COUNT to the Job's completions",
      );
    }
    return checked(k8s, count, `Kubernetes completion index ${k8s} of ${count}`);
  }
  return { index: 0, count: 1, source: 'single process' };
}

/** The store shards [first, end) that `worker` computes out of `numShards`. */
export function shardsOfWorker(worker: WorkerShard, numShards: number): { first: number; end: number } {
  return {
    first: Math.floor((worker.index * numShards) / worker.count),
    end: Math.floor(((worker.index + 1) * numShards) / worker.count),
  };
}

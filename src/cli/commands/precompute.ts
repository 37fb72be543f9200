/** `salf-cbm precompute`: one worker of the pre-computation (backbone features, prompted embeddings). */
import { Command } from 'commander';
import { resolveWorkerShard } from '../../store/worker-shard.js';
import { precomputeWorker } from '../../training/precompute.js';
import { addDataOptions, addStageOption, argsWithout, commandArgs, precomputeInputsFrom, stagesOf } from '../data-options.js';
import { positiveInt } from '../options.js';
import { progressBars } from '../progress-bars.js';

/** Options that say which worker this is (left out of the command recorded for the status). */
export const WORKER_OPTIONS = ['--shard', '--shard-count', '--stage'];

export function precomputeCommand(): Command {
  const cmd = new Command('precompute')
    .description('pre-compute backbone features and prompted CLIP embeddings into the cache, as one worker of N (Slurm arrays, Kubernetes Indexed Jobs)')
    .requiredOption('--cache-dir <dir>', 'the shared cache folder (train with the same --cache-dir)');
  addDataOptions(cmd);
  return addStageOption(cmd, 'what to compute')
    .option(
      '--shard <i/N>',
      'this worker is i of N (from 0); default: SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT or MIN/MAX, or JOB_COMPLETION_INDEX, else 0/1',
    )
    .option('--shard-count <N>', 'the number of workers with JOB_COMPLETION_INDEX (or set SALF_CBM_SHARD_COUNT)', positiveInt)
    .addHelpText(
      'after',
      '\nEvery worker of a job must be given the same options; the first one records them in <cache-dir>/jobs/<stage>.json and later ones are checked against it.\n`salf-cbm status` (same options) lists missing shards with the commands that redo them.',
    )
    .action(async (flags) => {
      const worker = resolveWorkerShard({ shard: flags.shard, shardCount: flags.shardCount });
      const command = argsWithout(commandArgs('precompute'), WORKER_OPTIONS);
      const report = await precomputeWorker(
        { ...precomputeInputsFrom(flags, flags.cacheDir), progress: progressBars() },
        stagesOf(flags.stage),
        worker,
        command,
      );
      const left = report.redo.length;
      console.log(
        `worker ${worker.index}/${worker.count} (${worker.source}): done; ${left === 0 ? 'every shard of the job is stored' : `${left} worker command(s) still have shards to do (\`salf-cbm status\` lists them)`}`,
      );
    });
}

/** `salf-cbm status`: whether the pre-computed stores are complete, and how to finish them. */
import { Command } from 'commander';
import { openStores, status } from '../../training/precompute.js';
import { addDataOptions, addStageOption, argsWithout, commandArgs, precomputeInputsFrom, stagesOf } from '../data-options.js';

export function statusCommand(): Command {
  const cmd = new Command('status')
    .description('show which pre-computed stores are complete; list missing shards with the `salf-cbm precompute` commands that redo them')
    .requiredOption('--cache-dir <dir>', 'the cache folder');
  addDataOptions(cmd);
  return addStageOption(cmd, 'which stores')
    .option('--verify', "check every stored shard's checksum; corrupt shards are removed (and listed as missing)")
    .action(async (flags) => {
      const stores = await openStores(precomputeInputsFrom(flags, flags.cacheDir), stagesOf(flags.stage));
      if (flags.verify) {
        for (const list of stores.stages.values()) {
          for (const { name, store } of list) {
            for (const bad of store.verify()) console.log(`${name}: removed corrupt shard ${bad.shard} (${bad.problem})`);
          }
        }
      }
      const report = status(stores, argsWithout(commandArgs('status'), ['--stage', '--verify']));
      for (const line of report.lines) console.log(line);
      console.log(report.complete ? 'complete' : `incomplete: ${report.redo.length} worker command(s) to run`);
      if (!report.complete) process.exitCode = 3;
    });
}

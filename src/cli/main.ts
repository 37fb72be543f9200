#!/usr/bin/env node
/** The `salf-cbm` command line. */
import { Command } from 'commander';
import { conceptsCommand } from './commands/concepts.js';
import { predictCommand } from './commands/predict.js';
import { tensorsCommand } from './commands/tensors.js';
import { trainCommand } from './commands/train.js';

const program = new Command('salf-cbm')
  .description('Spatially-aware, label-free concept bottleneck models: turn a vision network into a self-explaining one')
  .showHelpAfterError()
  .addCommand(trainCommand())
  .addCommand(predictCommand())
  .addCommand(tensorsCommand())
  .addCommand(conceptsCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`salf-cbm: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.SALF_CBM_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});

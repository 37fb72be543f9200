#!/usr/bin/env node
/** The `salf-cbm` command line. */
import { Command } from 'commander';
import { DEFAULT_MAX_PIXELS, setMaxDecodePixels } from '../data/image-io.js';
import { conceptsCommand } from './commands/concepts.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { explainCommand } from './commands/explain.js';
import { explainRegionCommand } from './commands/explain-region.js';
import { exportCommand } from './commands/export.js';
import { interveneCommand } from './commands/intervene.js';
import { precomputeCommand } from './commands/precompute.js';
import { predictCommand } from './commands/predict.js';
import { rulesCommand } from './commands/rules.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { tensorsCommand } from './commands/tensors.js';
import { trainCommand } from './commands/train.js';
import { videoCommand } from './commands/video.js';
import { positiveInt } from './options.js';

const program = new Command('salf-cbm')
  .description('Spatially-aware, label-free concept bottleneck models: turn a vision network into a self-explaining one')
  .showHelpAfterError()
  .option(
    '--max-pixels <n>',
    "largest image decoded, in pixels, which is also how many pixels are decoded at once (bounds memory: about 3 bytes a pixel and libvips' working set)",
    positiveInt,
    DEFAULT_MAX_PIXELS,
  )
  .hook('preAction', (root) => setMaxDecodePixels(root.opts<{ maxPixels: number }>().maxPixels))
  .addCommand(demoCommand())
  .addCommand(trainCommand())
  .addCommand(precomputeCommand())
  .addCommand(statusCommand())
  .addCommand(predictCommand())
  .addCommand(tensorsCommand())
  .addCommand(conceptsCommand())
  .addCommand(evalCommand())
  .addCommand(explainCommand())
  .addCommand(rulesCommand())
  .addCommand(explainRegionCommand())
  .addCommand(interveneCommand())
  .addCommand(videoCommand())
  .addCommand(exportCommand())
  .addCommand(serveCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`salf-cbm: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.SALF_CBM_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});

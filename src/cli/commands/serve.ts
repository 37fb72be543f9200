/** `salf-cbm serve`: the explorer, an interactive page that runs the model in the browser. */
import { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { openServedModel } from '../../serve/model-source.js';
import { DEFAULT_MAX_IMAGE_BYTES, startExplorerServer } from '../../serve/server.js';
import { port, positiveFloat } from '../options.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description(
      'start the explorer: a local web page that runs the model in your browser (WebGPU or WebAssembly) — prediction, ' +
        'concept contributions and heatmaps for any class, Explain Anything regions, interventions, decision rules; images never leave the browser',
    )
    .argument('<model>', 'a trained model directory (exported on the fly, cached in --export-dir) or an exported .onnx from `salf-cbm export`')
    .option('--images <dir>', 'a folder of images the page may pick from (sub-folders included)')
    .option('--host <address>', 'interface to listen on; anything but loopback exposes the page (and the model) to your network', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', port, 8000)
    .option('--export-dir <dir>', 'where a model directory is exported to (default <model>/export)')
    .option('--max-image-mb <n>', 'largest image file the server sends from --images, in MiB', positiveFloat, DEFAULT_MAX_IMAGE_BYTES / 2 ** 20)
    .action(async (modelPath: string, flags) => {
      if (flags.images !== undefined && !(existsSync(flags.images) && statSync(flags.images).isDirectory())) {
        throw new Error(`${flags.images}: image folder not found`);
      }
      const model = await openServedModel(modelPath, { exportDir: flags.exportDir });
      for (const n of model.notes) console.log(n);
      const server = await startExplorerServer({
        model,
        imagesDir: flags.images,
        host: flags.host,
        port: flags.port,
        maxImageBytes: Math.floor(flags.maxImageMb * 2 ** 20),
      });
      const { info } = model;
      console.log(
        `model ${model.name}: ${info.concepts.length} concepts, ${info.classes.length} classes, grid ${info.grid.join('×')}, input ${info.preprocess.resize.size} px`,
      );
      if (!['127.0.0.1', 'localhost', '::1'].includes(flags.host)) console.log(`warning: listening on ${flags.host}, not only on this machine`);
      console.log(`SALF-CBM explorer: ${server.url}`);
      console.log('press Ctrl+C to stop');
      const stop = (): void => {
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

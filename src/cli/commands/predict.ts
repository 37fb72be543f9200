/** `salf-cbm predict`: classify images with a trained model. */
import { Command } from 'commander';
import { SalfCbm } from '../../models/salf-cbm.js';
import { Engine } from '../../engine/session.js';
import { oneOf, positiveInt } from '../options.js';

export function predictCommand(): Command {
  return new Command('predict')
    .description('classify images with a trained SALF-CBM')
    .requiredOption('--model <dir>', 'trained model directory')
    .argument('<images...>', 'image files')
    .option('--top <k>', 'classes listed per image', positiveInt, 3)
    .option('--json', 'print JSON instead of a table')
    .option('--skip-bad', 'skip images that cannot be decoded instead of stopping')
    .option('--device <device>', 'execution provider: cpu or cuda', oneOf('cpu', 'cuda'), 'cpu')
    .action(async (images: string[], flags) => {
      await using engine = new Engine({ device: flags.device });
      await using model = SalfCbm.load(flags.model, engine);
      const out = await model.forwardImages(images, { skipBad: flags.skipBad });
      const results = out.paths.map((path, i) => {
        const p = model.probabilities(out, i);
        const order = Array.from(p.keys())
          .sort((a, b) => p[b]! - p[a]!)
          .slice(0, flags.top);
        return { path, prediction: model.classes[order[0]!]!, top: order.map((c) => ({ class: model.classes[c]!, probability: p[c]! })) };
      });
      if (flags.json) {
        console.log(JSON.stringify({ results, skipped: out.skipped }, null, 2));
        return;
      }
      for (const r of results) {
        console.log(`${r.path}\t${r.top.map((t) => `${t.class} ${(100 * t.probability).toFixed(1)}%`).join('\t')}`);
      }
      for (const s of out.skipped) console.error(`skipped ${s.path}: ${s.reason}`);
    });
}

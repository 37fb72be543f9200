/** `salf-cbm explain`: predictions with concept contributions and heatmaps (SPEC step 5). */
import { Command } from 'commander';
import { join } from 'node:path';
import { imageOutputs } from '../../explain/analyse.js';
import { explainImages, imageFolderName, writeExplanationFiles, type ImageExplanation } from '../../explain/explain-image.js';
import { signed } from '../../explain/svg.js';
import { positiveInt } from '../options.js';
import { addModelOptions, collect, modelEngine, openModel, pct } from './explain-shared.js';

function summary(r: ImageExplanation): string {
  const lines = [
    `${r.image}: ${r.probabilities
      .slice(0, 3)
      .map((c) => `${c.class} ${pct(c.probability)}`)
      .join(', ')}`,
  ];
  for (const e of r.explanations) {
    lines.push(`  why "${e.class}" (logit ${e.logit.toFixed(3)} = bias ${e.bias.toFixed(3)} + contributions):`);
    for (const c of e.contributions) lines.push(`    ${signed(c.contribution, 3).padStart(8)}  ${c.label}`);
    if (Math.abs(e.rest) > 0) lines.push(`    ${signed(e.rest, 3).padStart(8)}  (other concepts)`);
  }
  return lines.join('\n');
}

export function explainCommand(): Command {
  const cmd = new Command('explain')
    .description('explain predictions: top concept contributions W_F·ĉ and where each concept is (heatmaps)')
    .argument('<images...>', 'image files');
  addModelOptions(cmd);
  return cmd
    .option('--class <name>', 'explain this class instead of the predicted one (repeatable)', collect)
    .option('--top <k>', 'contributions listed per class', positiveInt, 5)
    .option('--out <dir>', 'write explanation.json, heatmap overlays and contribution charts (SVG, PNG) per image here')
    .option('--view-size <px>', 'longer side of the pictures', positiveInt, 320)
    .option('--json', 'print JSON instead of text')
    .action(async (images: string[], flags) => {
      await using engine = modelEngine(flags);
      await using model = await openModel(flags, engine);
      const { results, images: prepared, outputs } = await explainImages(model, images, { classes: flags.class, topK: flags.top });
      const written: string[] = [];
      if (flags.out) {
        const stems = results.map((r) => imageFolderName(r.image));
        for (let i = 0; i < results.length; i++) {
          const unique = stems.filter((s) => s === stems[i]).length === 1;
          const dir = join(flags.out, imageFolderName(results[i]!.image, unique ? undefined : i));
          written.push(...(await writeExplanationFiles(model, prepared[i]!, imageOutputs(model, outputs, i), results[i]!, dir, { viewSize: flags.viewSize })));
        }
      }
      if (flags.json) {
        console.log(JSON.stringify({ results, files: written }, null, 2));
        return;
      }
      for (const r of results) console.log(summary(r));
      if (written.length) console.log(`wrote ${written.length} files under ${flags.out}`);
    });
}

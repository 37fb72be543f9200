/** `salf-cbm explain-region`: Explain Anything — the concepts the model sees inside regions of an image (SPEC step 6). */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeJsonAtomic } from '../../data/atomic-write.js';
import { analyseImages, imageOutputs } from '../../explain/analyse.js';
import { rankClasses } from '../../explain/contributions.js';
import { conceptMap } from '../../explain/explain-image.js';
import { explainRegion } from '../../explain/explain-region.js';
import { parseRegion, rasteriseRegion } from '../../explain/regions.js';
import { makeView, renderRegionFigure } from '../../explain/render.js';
import { short } from '../../explain/svg.js';
import { oneOf, positiveFloat, positiveInt } from '../options.js';
import { addModelOptions, collect, modelEngine, openModel, pct, warn, withRadius } from './explain-shared.js';

export function explainRegionCommand(): Command {
  const cmd = new Command('explain-region')
    .description('Explain Anything: the top concepts inside image regions (points, boxes, masks, SAM masks)')
    .argument('<image>', 'image file');
  addModelOptions(cmd);
  return cmd
    .requiredOption(
      '--region <spec>',
      'a region (repeatable): point:x,y[,radius] (a disk; radius default 1/16 of the shorter side), box:x0,y0,x1,y1, ' +
        'mask:<image> (non-zero/white = inside), sam:<file.json>[#i] (SAM/COCO RLE) or all',
      collect,
    )
    .option('--radius <px>', 'disk radius of point regions given without one (default: 1/16 of the shorter side)', positiveFloat)
    .option('--coords <frame>', 'region coordinates in the original image pixels, or in the model input pixels', oneOf('image', 'input'), 'image')
    .option('--top <k>', 'concepts listed per region', positiveInt, 5)
    .option('--out <dir>', "write regions.json and a picture per region (outline and the top concepts' heatmaps)")
    .option('--view-size <px>', 'longer side of the pictures', positiveInt, 320)
    .option('--json', 'print JSON instead of text')
    .action(async (image: string, flags) => {
      await using engine = modelEngine(flags);
      await using model = await openModel(flags, engine);
      // Parse every region before running the model, so a bad one fails fast.
      const parsed = [];
      for (const spec of flags.region as string[]) parsed.push(withRadius(await parseRegion(spec), flags.radius));
      const { images, outputs } = await analyseImages(model, [image]);
      const prepared = images[0]!;
      const out = imageOutputs(model, outputs, 0);
      const rasters = parsed.map((r) => rasteriseRegion(r, prepared.geometry, { frame: flags.coords }));
      const regions = rasters.map((r) => explainRegion(model, out, r, flags.top));
      const prediction = rankClasses(model, out.logits)[0]!;
      warn(regions.flatMap((r) => r.warnings));
      const files: string[] = [];
      if (flags.out) {
        mkdirSync(flags.out, { recursive: true });
        const view = await makeView(prepared, flags.viewSize);
        for (let i = 0; i < regions.length; i++) {
          const file = join(flags.out, `region-${i}.png`);
          const heading = `${basename(image)} — region ${i}: ${regions[i]!.region}`;
          writeFileSync(file, await renderRegionFigure(view, rasters[i]!, regions[i]!, (m) => conceptMap(model, out, m), model.grid, heading));
          files.push(file);
        }
        const json = join(flags.out, 'regions.json');
        writeJsonAtomic(json, { image, prediction, regions });
        files.unshift(json);
      }
      if (flags.json) {
        console.log(JSON.stringify({ image, prediction, regions, files }, null, 2));
        return;
      }
      console.log(`${image}: predicted ${prediction.class} (${pct(prediction.probability)})`);
      for (const r of regions) {
        console.log(`  region ${r.region} (${r.area} px, ${pct(r.fraction)} of the input)`);
        console.log(`    by summed activation: ${r.bySum.map((s) => `${s.concept} ${short(s.sum)}`).join(', ')}`);
        console.log(`    by mean activation:   ${r.byMean.map((s) => `${s.concept} ${short(s.mean)}`).join(', ')}`);
        console.log(`    by standardised mean: ${r.byStandardised.map((s) => `${s.concept} ${short(s.standardised)}`).join(', ')}`);
      }
      if (files.length) console.log(`wrote ${files.length} files under ${flags.out}`);
    });
}

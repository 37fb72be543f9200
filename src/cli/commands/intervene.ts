/** `salf-cbm intervene`: local intervention — edit concept maps inside regions and classify again (SPEC step 6). */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeJsonAtomic } from '../../data/atomic-write.js';
import { analyseImages, imageOutputs } from '../../explain/analyse.js';
import { conceptMap } from '../../explain/explain-image.js';
import { applyEdits, intervene, type ConceptEdit } from '../../explain/intervene.js';
import { resolveName } from '../../explain/names.js';
import { makeView, renderInterventionFigure } from '../../explain/render.js';
import { signed } from '../../explain/svg.js';
import { oneOf, positiveFloat, positiveInt } from '../options.js';
import { addModelOptions, collect, modelEngine, openModel, parseEdit, pct, warn } from './explain-shared.js';

export function interveneCommand(): Command {
  const cmd = new Command('intervene')
    .description("local intervention: add β to a concept's map inside a region (once), then pool, standardise and classify again")
    .argument('<image>', 'image file');
  addModelOptions(cmd);
  return cmd
    .requiredOption(
      '--edit <concept=beta[@region]>',
      'an edit (repeatable): C[concept] += beta · region on the grid; region as in explain-region (point:, box:, mask:, sam:), the whole image when omitted',
      collect,
    )
    .option('--class <name>', 'also report contribution changes for this class (repeatable)', collect)
    .option('--radius <px>', 'disk radius of point regions given without one (default: 1/16 of the shorter side)', positiveFloat)
    .option('--coords <frame>', 'region coordinates in the original image pixels, or in the model input pixels', oneOf('image', 'input'), 'image')
    .option('--out <dir>', 'write intervention.json and a before/after picture of the edited maps')
    .option('--view-size <px>', 'longer side of the pictures', positiveInt, 320)
    .option('--json', 'print JSON instead of text')
    .action(async (image: string, flags) => {
      await using engine = modelEngine(flags);
      await using model = await openModel(flags, engine);
      const extra: number[] = (flags.class ?? []).map((c: string) => resolveName(model.classes, c, 'class'));
      const { images, outputs } = await analyseImages(model, [image]);
      const prepared = images[0]!;
      const out = imageOutputs(model, outputs, 0);
      const edits: ConceptEdit[] = [];
      for (const spec of flags.edit as string[]) edits.push(await parseEdit(model, spec, prepared.geometry, flags.coords, flags.radius));
      const result = await intervene(model, out, edits, extra);
      warn(result.warnings);
      const files: string[] = [];
      if (flags.out) {
        mkdirSync(flags.out, { recursive: true });
        const edited = applyEdits(model, out.conceptMaps, edits);
        const concepts = [...new Set(edits.map((e) => e.concept))];
        const view = await makeView(prepared, flags.viewSize);
        const panels = concepts.map((m) => {
          const mine = edits.filter((e) => e.concept === m);
          return {
            concept: model.concepts[m]!,
            before: conceptMap(model, out, m),
            after: conceptMap(model, { conceptMaps: edited }, m),
            regions: mine.map((e) => e.region),
            note: mine.map((e) => `β ${signed(e.beta)} in ${e.region.label}`).join('; '),
          };
        });
        const heading = `${basename(image)}: ${result.before.prediction.class} (${pct(result.before.prediction.probability)}) → ${result.after.prediction.class} (${pct(result.after.prediction.probability)})`;
        const pic = join(flags.out, 'intervention.png');
        writeFileSync(pic, await renderInterventionFigure(view, panels, model.grid, heading));
        const json = join(flags.out, 'intervention.json');
        writeJsonAtomic(json, { image, ...result });
        files.push(json, pic);
      }
      if (flags.json) {
        console.log(JSON.stringify({ image, ...result, files }, null, 2));
        return;
      }
      const b = result.before.prediction;
      const a = result.after.prediction;
      console.log(`${image}: ${b.class} (${pct(b.probability)}) → ${a.class} (${pct(a.probability)})`);
      for (const e of result.edits) console.log(`  edit: ${e.concept} += ${e.beta} in ${e.region}`);
      for (const c of result.concepts) {
        console.log(
          `  ${c.concept}: activation ${c.activationBefore.toFixed(4)} → ${c.activationAfter.toFixed(4)}, ĉ ${c.standardisedBefore.toFixed(4)} → ${c.standardisedAfter.toFixed(4)}`,
        );
      }
      console.log('  logits:');
      for (const l of result.logits) console.log(`    ${l.class}: ${l.before.toFixed(4)} → ${l.after.toFixed(4)} (${signed(l.delta, 4)})`);
      if (result.contributions.length) console.log('  contributions that changed:');
      for (const c of result.contributions)
        console.log(`    ${c.class} ← ${c.concept}: ${c.before.toFixed(4)} → ${c.after.toFixed(4)} (${signed(c.delta, 4)})`);
      if (files.length) console.log(`wrote ${files.length} files under ${flags.out}`);
    });
}

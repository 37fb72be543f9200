/** `salf-cbm rules`: the decision rules of classes (their non-zero final-layer weights), as JSON and Sankey diagrams. */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../../data/atomic-write.js';
import { safeName } from '../../explain/explain-image.js';
import { resolveName } from '../../explain/names.js';
import { decisionRule } from '../../explain/rules.js';
import { sankeySvg } from '../../explain/sankey.js';
import { svgToPng } from '../../explain/svg.js';
import { positiveInt } from '../options.js';
import { addModelOptions, collect, modelEngine, openModel } from './explain-shared.js';

/** Classes drawn together in one combined diagram at most. */
const COMBINED_MAX = 12;

export function rulesCommand(): Command {
  const cmd = new Command('rules').description("show classes' decision rules: the concepts with non-zero weights (Sankey diagrams and JSON)");
  addModelOptions(cmd);
  return cmd
    .option('--class <name>', 'a class to show (repeatable; all classes when omitted)', collect)
    .option('--top <k>', 'at most k weights per class (largest |weight| first)', positiveInt)
    .option('--out <dir>', `write rules.json and rules-<class>.svg/.png per class (plus rules.svg/.png for up to ${COMBINED_MAX} classes together)`)
    .option('--json', 'print JSON instead of text')
    .action(async (flags) => {
      await using engine = modelEngine(flags);
      await using model = await openModel(flags, engine);
      const classes: number[] = flags.class?.length ? flags.class.map((c: string) => resolveName(model.classes, c, 'class')) : model.classes.map((_, i) => i);
      const rules = [...new Set(classes)].map((l) => decisionRule(model, l, flags.top ?? Infinity));
      const files: string[] = [];
      if (flags.out) {
        mkdirSync(flags.out, { recursive: true });
        const json = join(flags.out, 'rules.json');
        writeJsonAtomic(json, { rules });
        files.push(json);
        const draw = async (name: string, svg: string): Promise<void> => {
          writeFileSync(join(flags.out, `${name}.svg`), svg);
          writeFileSync(join(flags.out, `${name}.png`), await svgToPng(svg));
          files.push(join(flags.out, `${name}.svg`), join(flags.out, `${name}.png`));
        };
        for (const r of rules) await draw(`rules-${safeName(r.class)}`, sankeySvg([r]));
        if (rules.length > 1 && rules.length <= COMBINED_MAX) await draw('rules', sankeySvg(rules));
      }
      if (flags.json) {
        console.log(JSON.stringify({ rules, files }, null, 2));
        return;
      }
      for (const r of rules) {
        console.log(
          `${r.class}: logit = ${r.bias.toFixed(4)}${r.terms.map((t) => ` ${t.weight < 0 ? '−' : '+'} ${Math.abs(t.weight).toFixed(4)}·ĉ[${t.concept}]`).join('')}${r.terms.length < r.nonZeros ? ` + … (${r.nonZeros - r.terms.length} more)` : ''}`,
        );
      }
      if (files.length) console.log(`wrote ${files.length} files under ${flags.out}`);
    });
}

/** `salf-cbm demo`: the whole method on the proving ground, offline (see src/proving-ground/demo.ts). */
import { Command } from 'commander';
import { BLACK_BOXES, DEFAULT_BLACK_BOX, DEMO_COUNTS, DEMO_CUTOFF, runDemo, type SplitMeasures } from '../../proving-ground/demo.js';
import { finite, oneOf, positiveInt, seed } from '../options.js';
import { progressBars } from '../progress-bars.js';

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const f3 = (x: number): string => x.toFixed(3);

function table(test: SplitMeasures, shifted: SplitMeasures): string {
  const rows: [string, (s: SplitMeasures) => string][] = [
    ['images', (s) => String(s.images)],
    ['accuracy, black-box CNN', (s) => pct(s.accuracyBlackbox)],
    ['accuracy, SALF-CBM sparse', (s) => pct(s.accuracySalfSparse)],
    ['accuracy, SALF-CBM dense', (s) => pct(s.accuracySalfDense)],
    ['pointing game, chance level', (s) => f3(s.pointingChance)],
    ['pointing game, CLIP red-circle maps P', (s) => f3(s.pointingGameP)],
    ['pointing game, SALF-CBM maps C', (s) => f3(s.pointingGameC)],
    ['pointing game, P, main-object concepts only', (s) => f3(s.pointingGameMainP)],
    ['pointing game, C, main-object concepts only', (s) => f3(s.pointingGameMainC)],
    ['concept mIoU, CLIP red-circle maps P', (s) => f3(s.conceptMIoUP)],
    ['concept mIoU, SALF-CBM maps C', (s) => f3(s.conceptMIoUC)],
  ];
  const lines = ['| measure | test | shifted |', '|---|---|---|'];
  for (const [name, get] of rows) lines.push(`| ${name} | ${get(test)} | ${get(shifted)} |`);
  return lines.join('\n');
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('train and measure SALF-CBM on the proving ground (a synthetic world with exact concept masks), fully offline')
    .option('--out <dir>', 'work folder: world, caches, model and explanation pictures', 'salf-cbm-demo')
    .option('--seed <n>', 'world and training seed', seed, 0)
    .option('--train <n>', 'training images', positiveInt, DEMO_COUNTS.train)
    .option('--val <n>', 'validation images', positiveInt, DEMO_COUNTS.val)
    .option('--test <n>', 'test images (and as many shifted ones)', positiveInt, DEMO_COUNTS.test)
    .option('--pooling <mode>', 'spatial pooling of concept maps', oneOf('mean', 'max', 'softmax'), 'mean')
    .option('--cutoff <x>', 'interpretability cutoff of the concept layer (SPEC: 0.45, tuned for real CLIP)', finite, DEMO_CUTOFF)
    .option('--lr <x>', 'concept layer Adam learning rate', finite, 1e-3)
    .option('--pictures <n>', 'test images explained in pictures', positiveInt, 4)
    .option(
      '--black-box <kind>',
      'the committed black box to explain: narrow (trained on the class rule only) or broad (broad dense pretraining, frozen, linear class head)',
      oneOf(...BLACK_BOXES),
      DEFAULT_BLACK_BOX,
    )
    .action(async (flags) => {
      const started = Date.now();
      const r = await runDemo({
        out: flags.out,
        seed: flags.seed,
        counts: { train: flags.train, val: flags.val, test: flags.test, shifted: flags.test },
        pooling: flags.pooling,
        cutoff: flags.cutoff,
        lr: flags.lr,
        pictures: flags.pictures,
        blackBox: flags.blackBox,
        progress: progressBars(),
      });
      console.log(`\nblack box: ${r.blackBox}`);
      console.log(`concepts kept by the interpretability cutoff: ${r.concepts.kept.length} of ${r.concepts.given} (${r.concepts.kept.join(', ')})`);
      console.log(`sparse final layer: ${r.nonZeros} non-zero weights, NEC ${r.nec.toFixed(2)}\n`);
      console.log(table(r.test, r.shifted));
      console.log(
        `\nper-concept mIoU of C (test): ${Object.entries(r.test.conceptIoUC)
          .map(([c, v]) => `${c} ${v.toFixed(2)}`)
          .join(', ')}`,
      );
      console.log(`model: ${r.model}`);
      console.log(`explanation pictures: ${r.pictures}`);
      console.log(`time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
      const t = r.test;
      console.log(
        `demo accuracy_blackbox=${t.accuracyBlackbox.toFixed(4)} accuracy_salf_sparse=${t.accuracySalfSparse.toFixed(4)} pointing_game=${t.pointingGameC.toFixed(4)} concept_miou=${t.conceptMIoUC.toFixed(4)}`,
      );
    });
}

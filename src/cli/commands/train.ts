/** `salf-cbm train`: SPEC steps 2–4 on an image folder. */
import { Command, InvalidArgumentError } from 'commander';
import { readConceptList } from '../../concepts/concept-list.js';
import { resolveConceptsSource } from '../../concepts/concept-sets.js';
import { trainSalfCbm } from '../../training/train-salf-cbm.js';
import { addDataOptions, precomputeInputsFrom } from '../data-options.js';
import { parseMemoryBudget } from '../../training/memory-budget.js';
import { finite, nonNegative, oneOf, positiveInt } from '../options.js';
import { progressBars } from '../progress-bars.js';
import { TRAINING_DEFAULTS } from '../../training/defaults.js';
import { addPresetOption } from '../preset-option.js';

/** Commander parser of --memory-budget: bytes, checked before any work. */
function memoryBudget(value: string): number {
  try {
    return parseMemoryBudget(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a SALF-CBM: prompted CLIP similarities, concept layer, sparse final layer')
    .requiredOption(
      '--concepts <file>',
      'concept list, one concept per line, or lfcbm:<set> for a published LF-CBM set (cub, places365, imagenet, cifar10, cifar100; downloaded once and cached)',
    )
    .requiredOption('--out <dir>', 'where the trained model is written');
  addDataOptions(cmd);
  addPresetOption(cmd, 'train');
  return cmd
    .option('--cache-dir <dir>', 'feature and embedding cache (default <out>/cache); reruns resume from it')
    .option('--compute-missing', 'compute missing shards here even when a distributed `salf-cbm precompute` job fills the cache')
    .option('--pooling <mode>', 'spatial pooling of concept maps', oneOf('mean', 'max', 'softmax'), TRAINING_DEFAULTS.pooling)
    .option('--lr <x>', 'concept layer Adam learning rate', nonNegative, TRAINING_DEFAULTS.lr)
    .option('--steps <n>', 'concept layer: most steps', positiveInt, TRAINING_DEFAULTS.maxSteps)
    .option('--step-samples <n>', 'concept layer: images per step', positiveInt, TRAINING_DEFAULTS.stepSamples)
    .option('--val-every <n>', 'concept layer: validate every n steps (stop when validation loss rises)', positiveInt, TRAINING_DEFAULTS.valEvery)
    .option(
      '--cutoff <x>',
      'interpretability cutoff: concepts whose validation similarity is not above it are dropped (−1 keeps all)',
      finite,
      TRAINING_DEFAULTS.cutoff,
    )
    .option('--final <mode>', 'final layer: sparse (GLM-SAGA elastic net) or dense', oneOf('sparse', 'dense'), TRAINING_DEFAULTS.finalMode)
    .option('--lam <x>', 'sparsity λ of the final layer (LF-CBM: 7e-4 CIFAR, 2e-4 CUB, 1e-4 ImageNet)', nonNegative, TRAINING_DEFAULTS.lam)
    .option('--target-nec <n>', 'run a regularisation path and keep the point with at most this many weights per class', positiveInt)
    .option('--epochs <n>', 'final layer: most epochs per λ', positiveInt, TRAINING_DEFAULTS.epochsPerLambda)
    .option(
      '--memory-budget <size>',
      'peak memory to stay under, e.g. 8GiB or 16GB: every stage reads the stores in chunks sized by it (default 4 GiB, or half the RAM when less)',
      memoryBudget,
    )
    .action(async (flags) => {
      const concepts = await resolveConceptsSource(flags.concepts, readConceptList);
      const { metrics } = await trainSalfCbm({
        ...precomputeInputsFrom(flags, flags.cacheDir),
        concepts,
        out: flags.out,
        cacheDir: flags.cacheDir,
        computeMissing: flags.computeMissing,
        memoryBudget: flags.memoryBudget,
        pooling: flags.pooling,
        cbl: { lr: flags.lr, maxSteps: flags.steps, stepSamples: flags.stepSamples, valEvery: flags.valEvery, cutoff: flags.cutoff },
        finalLayer: { mode: flags.final, lam: flags.lam, targetNec: flags.targetNec, epochsPerLambda: flags.epochs },
        progress: progressBars(),
      });
      const f = metrics.finalLayer;
      console.log(`concepts: ${metrics.concepts.kept} kept of ${metrics.concepts.given}`);
      console.log(
        `final layer (${f.mode}): ${f.nnz} non-zero weights, NEC ${f.nec.toFixed(2)}, train accuracy ${(100 * f.trainAccuracy).toFixed(2)}%` +
          (f.valAccuracy !== undefined ? `, validation accuracy ${(100 * f.valAccuracy).toFixed(2)}%` : ''),
      );
      console.log(`model written to ${flags.out}`);
    });
}

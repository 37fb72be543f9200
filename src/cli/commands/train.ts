/** `salf-cbm train`: SPEC steps 2–4 on an image folder. */
import { Command } from 'commander';
import { readConceptList } from '../../concepts/concept-list.js';
import { trainSalfCbm } from '../../training/train-salf-cbm.js';
import { addBackboneOptions, backboneConfigFrom } from '../backbone-options.js';
import { finite, fraction, grid, nonNegative, oneOf, positiveInt } from '../options.js';
import { progressBars } from '../progress-bars.js';

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a SALF-CBM: prompted CLIP similarities, concept layer, sparse final layer')
    .requiredOption('--data <dir>', 'image folder with one sub-folder per class')
    .requiredOption('--clip <folder|hub-id>', 'CLIP model: a local folder in the Hugging Face layout, or a hub id (online only)')
    .requiredOption('--concepts <file>', 'concept list, one concept per line')
    .requiredOption('--out <dir>', 'where the trained model is written');
  addBackboneOptions(cmd);
  return cmd
    .option('--split-file <file>', 'split file (lines "class/image.jpg<TAB>train|val|test", or JSON {train,val,test})')
    .option('--val-fraction <f>', 'validation hold-out per class when there is no split file', fraction, 0.1)
    .option('--cache-dir <dir>', 'feature and embedding cache (default <out>/cache); reruns resume from it')
    .option('--grid <HxW>', 'prompting grid', grid, [7, 7] as [number, number])
    .option('--radius <px>', 'red circle radius at CLIP input size (default 32 at 224 px, scaled)', positiveInt)
    .option('--placement <mode>', 'circle centres: inside (r … S−1−r) or stride (the paper text)', oneOf('inside', 'stride'), 'inside')
    .option('--pooling <mode>', 'spatial pooling of concept maps', oneOf('mean', 'max', 'softmax'), 'mean')
    .option('--lr <x>', 'concept layer Adam learning rate', nonNegative, 1e-3)
    .option('--steps <n>', 'concept layer: most steps', positiveInt, 1000)
    .option('--step-samples <n>', 'concept layer: images per step', positiveInt, 50000)
    .option('--val-every <n>', 'concept layer: validate every n steps (stop when validation loss rises)', positiveInt, 50)
    .option('--cutoff <x>', 'interpretability cutoff: concepts whose validation similarity is not above it are dropped (−1 keeps all)', finite, 0.45)
    .option('--final <mode>', 'final layer: sparse (GLM-SAGA elastic net) or dense', oneOf('sparse', 'dense'), 'sparse')
    .option('--lam <x>', 'sparsity λ of the final layer (LF-CBM: 7e-4 CIFAR, 2e-4 CUB, 1e-4 ImageNet)', nonNegative, 7e-4)
    .option('--target-nec <n>', 'run a regularisation path and keep the point with at most this many weights per class', positiveInt)
    .option('--epochs <n>', 'final layer: most epochs per λ', positiveInt, 1000)
    .option('--batch-size <n>', 'images per backbone run', positiveInt, 32)
    .option('--device <device>', 'execution provider: cpu or cuda (needs onnxruntime-node with CUDA)', oneOf('cpu', 'cuda'), 'cpu')
    .option('--seed <n>', 'random seed', (v) => Number.parseInt(v, 10), 0)
    .option('--skip-bad', 'skip images that cannot be decoded (listed at the end) instead of stopping')
    .action(async (flags) => {
      const concepts = readConceptList(flags.concepts);
      const { metrics } = await trainSalfCbm({
        data: flags.data,
        splitFile: flags.splitFile,
        valFraction: flags.valFraction,
        backbone: backboneConfigFrom(flags),
        clip: flags.clip,
        concepts,
        out: flags.out,
        cacheDir: flags.cacheDir,
        grid: flags.grid,
        radius: flags.radius,
        placement: flags.placement,
        pooling: flags.pooling,
        cbl: { lr: flags.lr, maxSteps: flags.steps, stepSamples: flags.stepSamples, valEvery: flags.valEvery, cutoff: flags.cutoff },
        finalLayer: { mode: flags.final, lam: flags.lam, targetNec: flags.targetNec, epochsPerLambda: flags.epochs },
        device: flags.device,
        seed: flags.seed,
        skipBad: flags.skipBad,
        batchSize: flags.batchSize,
        progress: progressBars(),
      });
      const f = metrics.finalLayer;
      console.log(`concepts: ${metrics.concepts.kept} kept of ${metrics.concepts.given}`);
      console.log(`final layer (${f.mode}): ${f.nnz} non-zero weights, NEC ${f.nec.toFixed(2)}, train accuracy ${(100 * f.trainAccuracy).toFixed(2)}%` +
        (f.valAccuracy !== undefined ? `, validation accuracy ${(100 * f.valAccuracy).toFixed(2)}%` : ''));
      console.log(`model written to ${flags.out}`);
    });
}

/** `salf-cbm eval classification|segmentation`: the paper's evaluations, baselines side by side. */
import { Command, InvalidArgumentError } from 'commander';
import { join, resolve } from 'node:path';
import { readConceptList } from '../../concepts/concept-list.js';
import { resolveConceptsSource } from '../../concepts/concept-sets.js';
import { CLS_METHODS, evaluateClassification, type ClsMethod } from '../../eval/classification.js';
import { classificationMarkdown, segmentationMarkdown, writeReport } from '../../eval/report.js';
import { imageNetSegDataset, type SegDataset } from '../../eval/seg-datasets.js';
import { provingGroundSegDataset } from '../../proving-ground/seg-dataset.js';
import { DEFAULT_SEG_METHODS, evaluateSegmentation, SEG_METHODS, type SegMethod } from '../../eval/segmentation.js';
import { SPLITS, type SplitName } from '../../proving-ground/world.js';
import { finite, fraction, nonNegative, nonNegativeInt, oneOf, positiveInt, positiveList, seed } from '../options.js';
import { progressBars } from '../progress-bars.js';
import { addPresetOption } from '../preset-option.js';

/** A comma-separated list of words from `allowed`. */
function listOf<T extends string>(allowed: readonly T[]): (value: string) => T[] {
  return (value) => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    const bad = items.filter((s) => !allowed.includes(s as T));
    if (items.length === 0 || bad.length > 0) throw new InvalidArgumentError(`expected a comma-separated list of ${allowed.join(', ')}`);
    return items as T[];
  };
}

function classificationCommand(): Command {
  const cmd = new Command('classification');
  addPresetOption(cmd, 'eval-classification');
  return cmd
    .description('top-1 accuracy of the backbone head, standard sparse, LF-CBM and SALF-CBM (sparse, dense), and accuracy against NEC')
    .requiredOption('--model <dir>', 'trained SALF-CBM directory (its backbone, grid and concepts are used)')
    .requiredOption(
      '--data <[kind:]path>',
      "the data (cub, cifar10, cifar100, imagenet, places365 or folder; detected from the folder without a kind), with the model's classes; official layouts evaluate their official test (val for ImageNet and Places365) as --split test",
    )
    .option('--split-file <file>', 'split file with train, val and the evaluated split')
    .option('--val-fraction <f>', 'without a split file: validation hold-out per class', fraction, 0.1)
    .option('--test-fraction <f>', 'without a split file: test hold-out per class', fraction)
    .option('--split <name>', 'evaluated split', oneOf('test', 'val'), 'test')
    .option('--methods <list>', `methods to run (${CLS_METHODS.join(',')})`, listOf(CLS_METHODS))
    .option('--clip <folder|hub-id>', "CLIP for LF-CBM (default: the model's)")
    .option('--lfcbm-concepts <file>', "LF-CBM's concept list, one per line, or lfcbm:<set> (default: the SALF-CBM's concepts)")
    .option('--lfcbm-steps <n>', 'LF-CBM concept layer: most steps', positiveInt, 1000)
    .option('--lfcbm-cutoff <x>', 'LF-CBM interpretability cutoff (−1 keeps all)', finite, 0.45)
    .option('--logits-tensor <name>', "the backbone's classifier output (default: the model's backbone config)")
    .option('--lam <x>', "sparsity λ·0.99 of the sparse final layers (default: the SALF-CBM's own, else 7e-4)", nonNegative)
    .option('--epochs <n>', 'most epochs of the single-λ sparse and the dense final layers', positiveInt, 1000)
    .option('--nec <list>', 'NEC targets for accuracy against NEC (empty: skip)', positiveList, [5, 10, 15, 20, 25, 30])
    .option('--path-length <k>', 'λ values on the regularisation path', positiveInt, 25)
    .option('--path-epsilon <x>', 'the path ends at epsilon·λ_max', nonNegative, 1e-3)
    .option('--path-epochs <n>', 'most epochs per λ on the path', positiveInt, 200)
    .option('--out <dir>', 'where classification.json and classification.md are written', 'eval')
    .option('--cache-dir <dir>', 'feature cache (default <out>/cache); a rerun resumes from it')
    .option('--batch-size <n>', 'images per backbone run', positiveInt, 32)
    .option('--device <device>', 'execution provider: cpu or cuda', oneOf('cpu', 'cuda'), 'cpu')
    .option('--seed <n>', 'random seed', seed, 0)
    .action(async (flags) => {
      const out = resolve(flags.out);
      const result = await evaluateClassification({
        model: flags.model,
        data: flags.data,
        splitFile: flags.splitFile,
        valFraction: flags.valFraction,
        testFraction: flags.testFraction,
        split: flags.split,
        methods: flags.methods as ClsMethod[] | undefined,
        clip: flags.clip,
        lfcbmConcepts: flags.lfcbmConcepts ? await resolveConceptsSource(flags.lfcbmConcepts, readConceptList) : undefined,
        lfcbm: { maxSteps: flags.lfcbmSteps, cutoff: flags.lfcbmCutoff },
        logitsTensor: flags.logitsTensor,
        lam: flags.lam,
        epochs: flags.epochs,
        necTargets: flags.nec,
        path: { k: flags.pathLength, epsilon: flags.pathEpsilon, epochs: flags.pathEpochs },
        cacheDir: flags.cacheDir ?? join(out, 'cache'),
        batchSize: flags.batchSize,
        seed: flags.seed,
        device: flags.device,
        progress: progressBars(),
      });
      const md = classificationMarkdown(result);
      const files = writeReport(out, 'classification', result, md);
      process.stdout.write(md);
      console.log(`\nwritten: ${files.markdown}, ${files.json}`);
    });
}

function segmentationCommand(): Command {
  return new Command('segmentation')
    .description('zero-shot segmentation (Chefer et al. protocol): SALF-CBM, Grad-CAM/CAM and Score-CAM on the same images and backbone')
    .requiredOption('--model <dir>', 'trained SALF-CBM directory (its backbone serves every method)')
    .option('--imagenet-seg <file>', "ImageNet-segmentation's gtsegs_ijcv.mat")
    .option('--proving-ground <dir>', 'a proving-ground world folder')
    .option('--pg-split <name>', 'proving-ground split', oneOf(...SPLITS), 'test')
    .option('--pg-mask <mode>', 'proving-ground foreground: main (the class object) or objects (all)', oneOf('main', 'objects'), 'main')
    .option(
      '--methods <list>',
      `methods to run (${SEG_METHODS.join(',')}; default ${DEFAULT_SEG_METHODS.join(',')}; teacher: the CLIP model's P map of the predicted class's concept)`,
      listOf(SEG_METHODS),
    )
    .option('--clip <source>', "the teacher's CLIP (folder or hub id; default: the one recorded in the model)")
    .option('--limit <n>', 'evaluate only the first n images', positiveInt)
    .option(
      '--salf-map <mode>',
      "SALF-CBM's class map: concept (the class's concept), contribution (Σ W_F·ĉ) or auto",
      oneOf('auto', 'concept', 'contribution'),
      'auto',
    )
    .option('--class-concept <template>', 'the concept naming a class, {class} replaced (default: "an image of a {class}", "a photo of a {class}", "{class}")')
    .option('--class-concepts <file>', "the concept of every class, one per line in the model's class order (instead of a template)")
    .option('--logits-tensor <name>', "the backbone's classifier output (default: the model's backbone config)")
    .option('--head-weights <file>', 'CAM head as safetensors (weight [L,D], bias [L]) instead of reading it from the ONNX graph')
    .option('--no-cam-relu', 'CAM without the ReLU (the original CAM rather than Grad-CAM)')
    .option('--scorecam-batch <n>', 'masked images per Score-CAM batch', positiveInt, 32)
    .option('--shard-size <n>', 'images per cached shard', positiveInt, 16)
    .option('--figure-count <n>', 'images in the heatmap figure (0: none)', nonNegativeInt, 4)
    .option('--out <dir>', 'where segmentation.json, segmentation.md and segmentation-figure.png are written', 'eval')
    .option('--cache-dir <dir>', 'per-image results (default <out>/cache); a rerun resumes from it')
    .option('--device <device>', 'execution provider: cpu or cuda', oneOf('cpu', 'cuda'), 'cpu')
    .action(async (flags) => {
      if (!flags.imagenetSeg === !flags.provingGround)
        throw new Error('give exactly one data set: --imagenet-seg <gtsegs_ijcv.mat> or --proving-ground <world>');
      const out = resolve(flags.out);
      const dataset: SegDataset = flags.imagenetSeg
        ? await imageNetSegDataset(flags.imagenetSeg)
        : provingGroundSegDataset(flags.provingGround, flags.pgSplit as SplitName, flags.pgMask);
      try {
        const result = await evaluateSegmentation({
          model: flags.model,
          dataset,
          methods: flags.methods as SegMethod[] | undefined,
          limit: flags.limit,
          salfMap: flags.salfMap,
          clip: flags.clip,
          classConcept: flags.classConcept,
          classConcepts: flags.classConcepts ? readConceptList(flags.classConcepts) : undefined,
          logitsTensor: flags.logitsTensor,
          headFile: flags.headWeights,
          camRelu: flags.camRelu,
          scoreCamBatch: flags.scorecamBatch,
          shardSize: flags.shardSize,
          cacheDir: flags.cacheDir ?? join(out, 'cache'),
          figure: flags.figureCount > 0 ? { path: join(out, 'segmentation-figure.png'), count: flags.figureCount } : undefined,
          device: flags.device,
          progress: progressBars(),
        });
        const mdPath = join(out, 'segmentation.md');
        const md = segmentationMarkdown(result, mdPath);
        const files = writeReport(out, 'segmentation', result, md);
        process.stdout.write(md);
        console.log(`\nwritten: ${files.markdown}, ${files.json}${result.figure ? `, ${result.figure.path}` : ''}`);
      } finally {
        dataset.close();
      }
    });
}

/** The `eval` command with its two subcommands. */
export function evalCommand(): Command {
  return new Command('eval')
    .description("the paper's evaluations with baselines side by side: classification accuracy and zero-shot segmentation")
    .addCommand(classificationCommand())
    .addCommand(segmentationCommand());
}

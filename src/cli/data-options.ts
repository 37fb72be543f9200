/**
 * The CLI options that determine the pre-computed stores (data, split, backbone, CLIP, prompting
 * and store layout), shared by `train`, `precompute` and `status` so that all three name the
 * same stores.
 */
import type { Command } from 'commander';
import type { Device } from '../engine/session.js';
import type { ClipPrecision } from '../models/clip.js';
import type { Placement } from '../similarity/prompting.js';
import type { StoreDtype } from '../store/row-store.js';
import { PRECOMPUTE_STAGES, type PrecomputeInputs, type PrecomputeStage } from '../training/precompute.js';
import { addBackboneOptions, backboneConfigFrom } from './backbone-options.js';
import { fraction, grid, oneOf, positiveInt, seed } from './options.js';
import { TRAINING_DEFAULTS } from '../training/defaults.js';

/** Adds the data, model and store options to a command. */
export function addDataOptions(cmd: Command): Command {
  cmd
    .requiredOption(
      '--data <[kind:]path>',
      'the data: cub, cifar10, cifar100, imagenet, places365 or folder (e.g. cub:/data/CUB_200_2011), or a path whose layout is detected; official layouts train on their official train split',
    )
    .requiredOption('--clip <folder|hub-id>', 'CLIP model: a local folder in the Hugging Face layout, or a hub id (online only)');
  addBackboneOptions(cmd);
  return cmd
    .option('--split-file <file>', 'split file, folder kind only (lines "class/image.jpg<TAB>train|val|test", or JSON {train,val,test})')
    .option(
      '--val-fraction <f>',
      'validation hold-out per class (of the official train split for official layouts) when there is no split file',
      fraction,
      TRAINING_DEFAULTS.valFraction,
    )
    .option('--grid <HxW>', 'prompting grid', grid, TRAINING_DEFAULTS.grid)
    .option('--radius <px>', 'red circle radius at CLIP input size (default 32 at 224 px, scaled)', positiveInt)
    .option('--placement <mode>', 'circle centres: inside (r … S−1−r) or stride (the paper text)', oneOf('inside', 'stride'), TRAINING_DEFAULTS.placement)
    .option('--batch-size <n>', 'images per backbone run', positiveInt, TRAINING_DEFAULTS.batchSize)
    .option('--device <device>', 'execution provider: cpu or cuda (needs onnxruntime-node with CUDA)', oneOf('cpu', 'cuda'), 'cpu')
    .option('--clip-precision <p>', "CLIP's weights: fp32, or fp16 (onnx/*_model_fp16.onnx; half the memory, faster on a GPU)", oneOf('fp32', 'fp16'), 'fp32')
    .option('--clip-batch <n>', 'prompted images per CLIP run (lower it when a GPU runs out of memory)', positiveInt, 64)
    .option('--seed <n>', 'random seed (also of the validation hold-out)', seed, TRAINING_DEFAULTS.seed)
    .option('--skip-bad', 'skip images that cannot be decoded (listed at the end) instead of stopping')
    .option('--feature-dtype <dtype>', 'how backbone features are stored', oneOf('float16', 'float32'), 'float16')
    .option('--shard-size <n>', 'images per store shard (the unit of resumption and of work division)', positiveInt, 64);
}

/** Adds `--stage features|embeddings|all` (default all); `what` starts its help text. */
export function addStageOption(cmd: Command, what: string): Command {
  return cmd.option('--stage <stage>', `${what}: features, embeddings or all`, oneOf('features', 'embeddings', 'all'), 'all');
}

/** The stages a `--stage` value names. */
export function stagesOf(stage: PrecomputeStage | 'all'): PrecomputeStage[] {
  return stage === 'all' ? [...PRECOMPUTE_STAGES] : [stage];
}

/** The flags {@link addDataOptions} defines. */
export interface DataFlags {
  data: string;
  clip: string;
  splitFile?: string;
  valFraction: number;
  grid: [number, number];
  radius?: number;
  placement: Placement;
  batchSize: number;
  device: Device;
  clipPrecision: ClipPrecision;
  clipBatch: number;
  seed: number;
  skipBad?: boolean;
  featureDtype: StoreDtype;
  shardSize: number;
}

/** The pre-computation inputs the flags describe. */
export function precomputeInputsFrom(flags: DataFlags & Parameters<typeof backboneConfigFrom>[0], cacheDir: string): PrecomputeInputs {
  return {
    data: flags.data,
    splitFile: flags.splitFile,
    valFraction: flags.valFraction,
    seed: flags.seed,
    backbone: backboneConfigFrom(flags),
    clip: flags.clip,
    cacheDir,
    grid: flags.grid,
    radius: flags.radius,
    placement: flags.placement,
    device: flags.device,
    clipPrecision: flags.clipPrecision,
    clipBatch: flags.clipBatch,
    skipBad: flags.skipBad,
    batchSize: flags.batchSize,
    featureDtype: flags.featureDtype,
    shardSize: flags.shardSize,
  };
}

/** `argv` (this command's arguments) without the options named (and their values). */
export function argsWithout(argv: readonly string[], options: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split('=')[0]!;
    if (!options.includes(name)) out.push(a);
    else if (!a.includes('=') && !BOOLEAN.has(name)) i++;
  }
  return out;
}

const BOOLEAN = new Set(['--verify', '--compute-missing', '--skip-bad']);

/** The arguments after the command's name in `process.argv`. */
export function commandArgs(name: string, argv: readonly string[] = process.argv): string[] {
  const at = argv.indexOf(name, 2);
  return at < 0 ? [] : argv.slice(at + 1);
}

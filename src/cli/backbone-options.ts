/** The CLI options that describe a backbone, shared by the commands that need one. */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BackboneConfig } from '../models/backbone.js';
import { parseJson } from '../data/parse-json.js';
import { checkJson } from '../data/json-schema.js';
import { backboneConfigSchema } from '../models/config-schemas.js';
import { findFeatureTensorInFile } from '../models/feature-tensor.js';
import { resolveBackboneModel } from '../models/backbone-source.js';
import { oneOf, positiveInt, triple } from './options.js';

/** ImageNet's normalisation, the usual default for torchvision-style backbones. */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** Adds the backbone options to a command. */
export function addBackboneOptions(cmd: Command): Command {
  // A folder or hub id becomes the local path of its ONNX file before the command runs (a
  // preset's backbone is a file path, checked by the preset itself).
  cmd.hook('preAction', async () => {
    const source = cmd.getOptionValue('backbone') as string | undefined;
    if (!source || cmd.getOptionValue('backboneConfig') || cmd.getOptionValueSource('backbone') === 'preset') return;
    cmd.setOptionValueWithSource('backbone', await resolveBackboneModel(source), cmd.getOptionValueSource('backbone'));
  });
  return cmd
    .option(
      '--backbone <model>',
      'the frozen ONNX image model: an .onnx file, a folder holding onnx/model.onnx, or a Hugging Face hub id (cached by transformers.js)',
    )
    .option('--feature-tensor <name>', 'internal tensor used as the feature map (default: found automatically, see `salf-cbm tensors <model.onnx>`)')
    .option(
      '--layout <layout>',
      "feature tensor layout: nchw (CNN maps) or tokens (ViT N×T×D) (default: the found tensor's, else nchw)",
      oneOf('nchw', 'tokens'),
    )
    .option(
      '--cls <mode>',
      "ViT CLS token: drop, concat (broadcast and concatenate) or none (default: the found tensor's, else drop)",
      oneOf('drop', 'concat', 'none'),
    )
    .option('--logits-tensor <name>', "the backbone's own classifier output, if any")
    .option('--input-size <px>', 'square input size of the backbone', positiveInt, 224)
    .option('--resize <px>', 'shorter side before the centre crop (default: input size × 256/224)', positiveInt)
    .option('--crop <mode>', 'center (resize shorter side, centre crop) or stretch (resize to the square)', oneOf('center', 'stretch'), 'center')
    .option('--interpolation <filter>', 'resampling filter for the backbone', oneOf('bilinear', 'bicubic'), 'bilinear')
    .option('--mean <r,g,b>', 'per-channel mean of RGB in [0,1]', triple, IMAGENET_MEAN)
    .option('--std <r,g,b>', 'per-channel std of RGB in [0,1]', triple, IMAGENET_STD)
    .option('--backbone-config <file.json>', 'a BackboneConfig JSON file instead of the options above');
}

interface BackboneFlags {
  backbone?: string;
  featureTensor?: string;
  layout?: 'nchw' | 'tokens';
  cls?: 'drop' | 'concat' | 'none';
  logitsTensor?: string;
  inputSize: number;
  resize?: number;
  crop: 'center' | 'stretch';
  interpolation: 'bilinear' | 'bicubic';
  mean: [number, number, number];
  std: [number, number, number];
  backboneConfig?: string;
}

/**
 * The BackboneConfig the options describe. A `--backbone-config` file's relative `model` path is
 * relative to the JSON file's folder (not the working folder), so the file can move with its model.
 */
export function backboneConfigFrom(flags: BackboneFlags): BackboneConfig {
  if (flags.backboneConfig) return readBackboneConfig(flags.backboneConfig);
  if (!flags.backbone) throw new Error('--backbone <model.onnx> is required (or --backbone-config <file.json>)');
  // Without --feature-tensor the tensor, its layout and CLS handling are read off the graph;
  // --layout and --cls given explicitly still win.
  const found = flags.featureTensor ? undefined : findFeatureTensorInFile(flags.backbone);
  const layout = flags.layout ?? found?.layout ?? 'nchw';
  const size = flags.inputSize;
  return {
    model: flags.backbone,
    featureTensor: flags.featureTensor ?? found!.featureTensor,
    layout,
    ...(layout === 'tokens' ? { cls: flags.cls ?? found?.cls ?? 'drop' } : {}),
    ...(flags.logitsTensor ? { logitsTensor: flags.logitsTensor } : {}),
    preprocess: {
      resize: flags.crop === 'center' ? { size, mode: 'center', resize: flags.resize ?? Math.round((size * 256) / 224) } : { size, mode: 'stretch' },
      interpolation: flags.interpolation,
      mean: flags.mean,
      std: flags.std,
    },
  };
}

/** Reads a BackboneConfig JSON file, resolving a relative `model` path against the file's folder. */
export function readBackboneConfig(file: string): BackboneConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read the backbone config (${e.code ?? e.message})`);
  }
  const raw = parseJson(text, file) as { model?: unknown } | null;
  if (typeof raw !== 'object' || raw === null || typeof raw.model !== 'string' || raw.model === '') {
    throw new Error(`${file}: a backbone config needs "model": the path of the ONNX model (relative to this file's folder)`);
  }
  const config: BackboneConfig = checkJson(raw, backboneConfigSchema, file, 'backbone config');
  return { ...config, model: isAbsolute(config.model) ? config.model : resolve(dirname(file), config.model) };
}

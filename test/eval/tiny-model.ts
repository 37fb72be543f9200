/**
 * A tiny trained SALF-CBM for the evaluation tests: random-weight CNN (64 px, 2 classes, GAP +
 * Gemm head, logits tensor named) and CLIP, the two-colour image folder with an explicit
 * train/val/test split file. Plumbing, not meaning.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackboneConfig } from '../../src/models/backbone.js';
import { trainSalfCbm } from '../../src/training/train-salf-cbm.js';
import { writeColourDataset, COLOUR_CLASSES } from '../helpers/colour-dataset.js';
import { writeTinyCnn } from '../helpers/tiny-backbones.js';
import { writeTinyClip } from '../helpers/tiny-clip.js';
import { tempDir } from '../helpers/paths.js';

export const TINY_CONCEPTS = ['red', 'blue', 'green', 'striped', 'round', 'sky', 'an image of a bluish', 'an image of a reddish'];

export interface TinySetup {
  root: string;
  data: string;
  splitFile: string;
  clip: string;
  modelDir: string;
  backbone: BackboneConfig;
}

/** Writes the data and models and trains the SALF-CBM (a few seconds). */
export async function trainTinySalf(): Promise<TinySetup> {
  const root = tempDir('salf-eval-');
  const data = join(root, 'data');
  await writeColourDataset(data, 8);
  const split: Record<string, string[]> = { train: [], val: [], test: [] };
  for (const cls of Object.keys(COLOUR_CLASSES)) {
    for (let i = 0; i < 8; i++) (i < 4 ? split.train! : i < 6 ? split.val! : split.test!).push(`${cls}/${i}.png`);
  }
  const splitFile = join(root, 'split.json');
  writeFileSync(splitFile, JSON.stringify(split));
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 2 });
  const clip = join(root, 'clip');
  await writeTinyClip(clip, { inputSize: 64 });
  const backbone: BackboneConfig = {
    model: cnn.path,
    featureTensor: cnn.featureTensor,
    logitsTensor: cnn.logitsTensor,
    layout: 'nchw',
    preprocess: { resize: { size: 64, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  };
  const modelDir = join(root, 'model');
  await trainSalfCbm({
    data,
    splitFile,
    backbone,
    clip,
    concepts: TINY_CONCEPTS,
    out: modelDir,
    grid: [3, 3],
    cbl: { maxSteps: 20, valEvery: 5, cutoff: -1 },
    finalLayer: { mode: 'sparse', lam: 1e-3, epochsPerLambda: 50 },
  });
  return { root, data, splitFile, clip, modelDir, backbone };
}

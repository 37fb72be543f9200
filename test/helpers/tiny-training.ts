/**
 * The inputs of a tiny training run: a colour data folder, a random-weight CNN backbone and a
 * random-weight CLIP pair (plumbing only, not explanations), shared by the fault-injection tests
 * and `npm run smoke`.
 */
import { join } from 'node:path';
import type { BackboneConfig } from '../../src/models/backbone.js';
import { writeColourDataset } from './colour-dataset.js';
import { writeTinyCnn } from './tiny-backbones.js';
import { writeTinyClip } from './tiny-clip.js';

/** What a tiny run trains on; spread into TrainSalfCbmOptions. */
export interface TinyTrainingInputs {
  data: string;
  valFraction: number;
  backbone: BackboneConfig;
  clip: string;
}

/** Writes the data (`perClass` images per class), a 64-pixel CNN and CLIP under `root`. */
export async function writeTinyTrainingInputs(root: string, perClass = 8): Promise<TinyTrainingInputs> {
  await writeColourDataset(join(root, 'data'), perClass);
  const cnn = writeTinyCnn(join(root, 'cnn.onnx'), { size: 64, classes: 2 });
  await writeTinyClip(join(root, 'clip'), { inputSize: 64 });
  return {
    data: join(root, 'data'),
    valFraction: 0.25,
    backbone: {
      model: cnn.path,
      featureTensor: cnn.featureTensor,
      layout: 'nchw',
      preprocess: { resize: { size: 64, mode: 'stretch' }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    },
    clip: join(root, 'clip'),
  };
}

/**
 * The explorer tests' model: the hand-set colour model (`test/explain/colour-model.ts`, whose
 * explanations are known exactly) exported to one ONNX file, plus a folder of scenes.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { conceptModelFromSalf, type ConceptModel } from '../../src/models/concept-model.js';
import { exportSalfCbm } from '../../src/models/export.js';
import type { Pooling } from '../../src/models/salf-head.js';
import { BLUE, GREEN, RED, colourModel, writeScene } from '../explain/colour-model.js';

/** An exported colour model and the files around it. */
export interface ExplorerFixture {
  dir: string;
  /** The model directory's `SalfCbm` as the library's explanation code sees it. */
  library: ConceptModel;
  /** The exported single file. */
  onnx: string;
  /** The image folder. */
  images: string;
  /** `scene.png`: 64×64, red with a blue bottom-right quadrant (predicted "reddish"). */
  scene: string;
}

/** Exports the colour model (stretch preprocessing, 64 px, 4×4 grid) and writes scenes into `dir`. */
export async function explorerFixture(dir: string, pooling: Pooling = 'mean', mode: 'stretch' | 'center' = 'stretch'): Promise<ExplorerFixture> {
  const model = colourModel(dir, pooling, { mode });
  const onnx = join(dir, 'colour.onnx');
  await exportSalfCbm(model, onnx);
  const images = join(dir, 'images');
  mkdirSync(join(images, 'more'), { recursive: true });
  const scene = await writeScene(join(images, 'scene.png'), 64, 64, RED, [{ rect: [32, 32, 64, 64], colour: BLUE }]);
  await writeScene(join(images, 'more', 'green.png'), 96, 64, GREEN, [{ rect: [0, 0, 24, 24], colour: RED }]);
  return { dir, library: conceptModelFromSalf(model), onnx, images, scene };
}

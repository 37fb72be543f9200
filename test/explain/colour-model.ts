/**
 * A hand-set SALF-CBM whose explanations are known exactly, for the explanation tests.
 *
 * Backbone: an ONNX graph that averages the input over 8×8 blocks (`features`, N×3×S/8×S/8) with
 * identity normalisation, so a feature vector is the mean RGB (in [0, 1]) of its block. With
 * S = 64 the 8×8 map is resized to a 4×4 grid: bilinear with align_corners=false halves exactly,
 * so grid cell (a, b) holds the mean colour of pixels [16a, 16a+16) × [16b, 16b+16).
 *
 * Concepts (rows of W_c): red = R − (G+B)/2, green, blue likewise, bright = (R+G+B)/3.
 * Classes: reddish (2·red − blue), bluish (2·blue − red), greenish (2·green). Standardisation:
 * std 0.5 for every concept, mean 0.1 for the colours and 0.35 for bright (about the brightness
 * of any saturated colour, so bright is "usual" everywhere, as a training set would make it).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { GraphBuilder, attr } from '../../src/engine/onnx-builder.js';
import { Engine } from '../../src/engine/session.js';
import { SalfCbm, type SalfCbmConfig } from '../../src/models/salf-cbm.js';
import type { Pooling } from '../../src/models/salf-head.js';

export const COLOUR_CONCEPTS = ['red', 'green', 'blue', 'bright'];
export const COLOUR_CLASSES = ['reddish', 'bluish', 'greenish'];
export const SIZE = 64;
export const GRID: [number, number] = [4, 4];

/** W_c, M×D with D = 3 (RGB). */
export const CONCEPT_WEIGHT = Float32Array.from([1, -0.5, -0.5, -0.5, 1, -0.5, -0.5, -0.5, 1, 1 / 3, 1 / 3, 1 / 3]);
/** W_F, L×M. */
export const FINAL_WEIGHT = Float32Array.from([2, 0, -1, 0, -1, 0, 2, 0, 0, 2, 0, 0]);
export const FINAL_BIAS = Float32Array.from([0.1, -0.1, 0]);
/** Standardisation means μ_m. */
export const MEANS = Float32Array.from([0.1, 0.1, 0.1, 0.35]);
export const STD = 0.5;

/** Writes the block-averaging backbone. */
export function writeColourBackbone(path: string, size = SIZE): string {
  const b = new GraphBuilder('colour_backbone', 13);
  const x = b.input('pixels', 'float32', ['N', 3, size, size]);
  const f = b.op('AveragePool', [x], { kernel_shape: attr.ints([8, 8]), strides: attr.ints([8, 8]) }, 'features');
  b.output(f, 'float32', ['N', 3, size / 8, size / 8]);
  writeFileSync(path, b.toBytes());
  return path;
}

/** The hand-set model on a backbone written into `dir`. */
export function colourModel(dir: string, pooling: Pooling = 'mean', options: { mode?: 'stretch' | 'center'; engine?: Engine } = {}): SalfCbm {
  const model = writeColourBackbone(join(dir, 'colour-backbone.onnx'));
  const mode = options.mode ?? 'stretch';
  const config: SalfCbmConfig = {
    format: 'salf-cbm',
    version: 1,
    backbone: {
      model,
      featureTensor: 'features',
      layout: 'nchw',
      preprocess: {
        resize: mode === 'stretch' ? { size: SIZE, mode } : { size: SIZE, mode, resize: SIZE },
        interpolation: 'bilinear',
        mean: [0, 0, 0],
        std: [1, 1, 1],
      },
    },
    clip: { source: 'hand-set', id: 'none' },
    grid: GRID,
    prompting: { radius: 8, placement: 'inside' },
    pooling,
    finalLayer: { mode: 'sparse', nec: 5 / 3, nonZeros: 5 },
    featureDim: 3,
  };
  const M = COLOUR_CONCEPTS.length;
  return new SalfCbm(
    config,
    COLOUR_CONCEPTS,
    COLOUR_CLASSES,
    {
      conceptWeight: CONCEPT_WEIGHT,
      mean: MEANS,
      std: new Float32Array(M).fill(STD),
      finalWeight: FINAL_WEIGHT,
      finalBias: FINAL_BIAS,
    },
    options.engine,
  );
}

/** An RGB picture: `background` everywhere and `rect` [x0, y0, x1, y1) filled with `colour`. */
export function scene(
  width: number,
  height: number,
  background: [number, number, number],
  rects: { rect: [number, number, number, number]; colour: [number, number, number] }[] = [],
): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) px.set(background, p * 3);
  for (const { rect, colour } of rects) {
    const [x0, y0, x1, y1] = rect;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) px.set(colour, (y * width + x) * 3);
  }
  return px;
}

/** Writes `scene(...)` as a PNG. */
export async function writeScene(path: string, ...args: Parameters<typeof scene>): Promise<string> {
  const [width, height] = args;
  await sharp(Buffer.from(scene(...args)), { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
  return path;
}

export const RED: [number, number, number] = [220, 30, 30];
export const BLUE: [number, number, number] = [30, 40, 220];
export const GREEN: [number, number, number] = [30, 200, 40];

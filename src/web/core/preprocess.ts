/**
 * An image as the page decodes it (RGBA from a canvas) → the model's input, with the library's
 * own preprocessing code (`data/resize.ts`: PIL-exact resize and torchvision's centre crop, then
 * normalisation), so the page feeds the model exactly what `salf-cbm explain` would.
 */
import { modelInput, normaliseInput } from '../../data/resize.js';
import type { RgbImage } from '../../data/rgb-image.js';
import { inputGeometry, type InputGeometry } from '../../explain/geometry.js';
import type { ExplorerModel } from './manifest.js';

/** Drops the alpha channel of interleaved RGBA pixels. */
export function rgbaToRgb(rgba: ArrayLike<number>, width: number, height: number): RgbImage {
  const n = width * height;
  if (rgba.length !== n * 4) throw new Error(`rgbaToRgb: ${rgba.length} values for ${width}×${height} RGBA`);
  const data = new Uint8Array(n * 3);
  for (let p = 0, q = 0; p < n; p++, q += 4) {
    data[p * 3] = rgba[q]!;
    data[p * 3 + 1] = rgba[q + 1]!;
    data[p * 3 + 2] = rgba[q + 2]!;
  }
  return { data, width, height };
}

/** An image ready for the model. */
export interface PreparedInput {
  /** The model input before normalisation (S×S RGB). */
  input: RgbImage;
  /** Normalised planar float32 pixels, 3×S×S. */
  pixels: Float32Array;
  /** Where the input sits in the original image. */
  geometry: InputGeometry;
}

/** Resizes/crops and normalises `image` as the model's preprocessing says. */
export function prepareInput(model: Pick<ExplorerModel, 'preprocess'>, image: RgbImage): PreparedInput {
  const input = modelInput(image, model.preprocess);
  return { input, pixels: normaliseInput(input, model.preprocess), geometry: inputGeometry(image.width, image.height, model.preprocess.resize) };
}

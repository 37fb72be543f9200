/**
 * Image decoding in the page: the browser's own decoder (any format it shows), EXIF
 * orientation applied, then the pixels read back from a canvas as 8-bit RGB.
 */
import type { RgbImage } from '../data/rgb-image.js';
import { rgbaToRgb } from './core/preprocess.js';

/** A decoded image: the bitmap to draw and its RGB pixels for the model. */
export interface DecodedImage {
  name: string;
  bitmap: ImageBitmap;
  rgb: RgbImage;
}

/** Largest image side decoded (browsers refuse far larger canvases). */
const MAX_SIDE = 16384;

/** Decodes an image file or blob; errors name it. */
export async function decodeImage(blob: Blob, name: string): Promise<DecodedImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', colorSpaceConversion: 'default' });
  } catch {
    throw new Error(`${name}: the browser cannot decode this file as an image`);
  }
  const { width, height } = bitmap;
  if (width === 0 || height === 0 || width > MAX_SIDE || height > MAX_SIDE) {
    bitmap.close();
    throw new Error(`${name}: ${width}×${height} pixels is not a size the page can handle`);
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser gives no 2D canvas');
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  return { name, bitmap, rgb: rgbaToRgb(rgba, width, height) };
}

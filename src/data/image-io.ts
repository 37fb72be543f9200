/**
 * Image decoding and model-input preprocessing.
 *
 * Decoding goes through `sharp` (libvips): any format it reads (JPEG, PNG, WebP, GIF — first
 * frame —, TIFF, AVIF/HEIF, SVG...) becomes 8-bit interleaved sRGB:
 * - EXIF orientation is applied, so the image is upright as a viewer shows it (PIL's plain
 *   `Image.open` does not do this; photos from phones are the usual difference);
 * - greyscale is replicated to three channels; 16-bit samples are reduced to 8 bits;
 * - CMYK (and any image with an ICC profile other than sRGB) is converted to sRGB by libvips;
 * - an alpha channel is dropped, not flattened: the colour stored under transparent pixels is
 *   kept, as PIL's `convert('RGB')` does in the torchvision and CLIP loaders.
 *
 * Resizing is done in `resize.ts` (re-exported here), not by libvips, to reproduce PIL's
 * `Image.resize` exactly (the same separable convolution with antialiasing when shrinking, the
 * same fixed-point arithmetic and an 8-bit intermediate after the horizontal pass). `center` mode then follows torchvision:
 * `Resize(resize)` (shorter side to `resize`, longer side `int(resize·long/short)`) and
 * `CenterCrop(size)` (offsets `round((in − size)/2)`, Python rounding). With bicubic
 * interpolation this is OpenAI CLIP's preprocessing; torchvision's ImageNet models use bilinear.
 *
 * Decoding has bounds: an image of more than {@link DEFAULT_MAX_PIXELS} pixels is refused (a
 * small compressed file can hold a huge image), and images are decoded concurrently only while
 * their pixels together stay under the same number, so memory stays bounded (about 3 bytes per
 * pixel plus libvips' working set). The CLI's `--max-pixels` raises both ({@link setMaxDecodePixels}).
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { decodeMember, parseMemberPath } from './image-members.js';
import { PixelBudget } from './pixel-budget.js';
import { checkSpec, resizeToSpec, type Interpolation } from './resize.js';
import type { ResizeSpec, RgbImage } from './rgb-image.js';

export { centerGeometry, resizeRgb, resizeToSpec, toChwNormalised, type CropWindow, type Interpolation } from './resize.js';

/** Default largest image decoded, in pixels (100 megapixels: 10000×10000). */
export const DEFAULT_MAX_PIXELS = 100_000_000;

let maxPixels = DEFAULT_MAX_PIXELS;
const decoding = new PixelBudget(DEFAULT_MAX_PIXELS);

/**
 * Sets the largest image decoded, in pixels, which is also the number of pixels decoded at once
 * by concurrent calls (the CLI's `--max-pixels`).
 */
export function setMaxDecodePixels(pixels: number): void {
  if (!Number.isInteger(pixels) || pixels < 1) throw new Error(`the pixel limit must be a positive integer, got ${pixels}`);
  maxPixels = pixels;
  decoding.capacity = pixels;
}

/** The largest image decoded, in pixels. */
export function maxDecodePixels(): number {
  return maxPixels;
}

/** Options for {@link loadRgb}. */
export interface LoadOptions {
  /** Resampling filter; `bicubic` (CLIP) by default. */
  interpolation?: Interpolation;
  /** Apply the EXIF orientation tag (default true). */
  autoOrient?: boolean;
}

/** Options for {@link decodeRgb}. */
export interface DecodeOptions {
  /** Apply the EXIF orientation tag (default true). */
  autoOrient?: boolean;
}

/**
 * Decodes an image file at its native size (after EXIF orientation) to 8-bit RGB; a member path
 * (`<container>#<index>`, image-members.ts: CIFAR's batches) is decoded from its container.
 */
export async function decodeRgb(path: string, options: DecodeOptions = {}): Promise<RgbImage> {
  const member = parseMemberPath(path);
  if (member) return decodeMember(member);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${path}: cannot read file (${e.code ?? e.message})`);
  }
  return decodeRgbBuffer(bytes, path, options);
}

/** Decodes encoded image bytes (any format sharp reads) to 8-bit RGB; `name` appears in errors. */
export async function decodeRgbBuffer(bytes: Uint8Array, name = 'image', options: DecodeOptions = {}): Promise<RgbImage> {
  const limit = maxPixels;
  let pixels: number;
  try {
    // The header only: the size decides whether, and when, the pixels are decoded.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    pixels = (meta.width ?? 0) * (meta.height ?? 0);
    if (pixels > limit) {
      throw new DecodeLimitError(
        `${name}: image of ${meta.width}×${meta.height} = ${pixels} pixels is over the decoding limit of ${limit} pixels; raise it with --max-pixels (setMaxDecodePixels)`,
      );
    }
  } catch (err) {
    if (err instanceof DecodeLimitError) throw err;
    throw new Error(`${name}: cannot decode image (${conciseMessage(err)})`);
  }
  return decoding.run(pixels, async () => {
    try {
      // failOn 'error': truncated or corrupt pixel data aborts, harmless warnings do not.
      const { data, info } = await sharp(bytes, { failOn: 'error', autoOrient: options.autoOrient ?? true, limitInputPixels: limit })
        .toColourspace('srgb')
        .removeAlpha()
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
      const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      return { data: out, width: info.width, height: info.height };
    } catch (err) {
      const why = conciseMessage(err);
      if (/pixel limit/i.test(why))
        throw new DecodeLimitError(`${name}: image is over the decoding limit of ${limit} pixels; raise it with --max-pixels (setMaxDecodePixels)`);
      throw new Error(`${name}: cannot decode image (${why})`);
    }
  });
}

/** An image refused for its size (over the decoding pixel limit). */
export class DecodeLimitError extends Error {
  override name = 'DecodeLimitError';
}

/**
 * Decodes an image file and brings it to `spec.size`×`spec.size` RGB (see the module comment for
 * the exact geometry and filter).
 */
export async function loadRgb(path: string, spec: ResizeSpec, options: LoadOptions = {}): Promise<RgbImage> {
  checkSpec(spec);
  const img = await decodeRgb(path, options);
  return resizeToSpec(img, spec, options.interpolation ?? 'bicubic');
}

/** The distinct lines of a (libvips) error message, joined on one line. */
function conciseMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const lines = [
    ...new Set(
      msg
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length > 0),
    ),
  ];
  return lines.join('; ');
}

/**
 * Red-circle visual prompts (SPEC step 2): where the circles go and how they are drawn.
 *
 * Circles are drawn exactly as `cv2.circle(img, (cx, cy), r, (255, 0, 0), thickness=2,
 * lineType=cv2.LINE_8)` draws them (see `opencv-circle.ts`; checked pixel for pixel against
 * OpenCV by `test/similarity/prompting.test.ts`).
 */
import type { RgbImage } from '../data/rgb-image.js';
import { PixelMask, rasterCircle } from './opencv-circle.js';

/**
 * How grid centres are placed along an axis of S pixels.
 * - `inside` (default, SPEC): G centres evenly from r to S−1−r, so every circle lies inside the
 *   image: c_i = round(r + i·(S−1−2r)/(G−1)) (JS `Math.round`, halves up).
 * - `stride`: the paper's text, integer stride d = ⌊S/(G−1)⌋ from the image edge:
 *   c_i = min(i·d, S−1); circles at the edges are cut by the border.
 * With G = 1 both give the centre, round((S−1)/2).
 */
export type Placement = 'inside' | 'stride';

/** The paper's radius, 32 px at 224 px, scaled with the input size: round(32·size/224). */
export function defaultRadius(size: number): number {
  return Math.round((32 * size) / 224);
}

/** The G centre coordinates (integer pixels) along one axis of `size` pixels. */
export function gridCentres(size: number, g: number, r: number, placement: Placement = 'inside'): number[] {
  if (!Number.isInteger(size) || size <= 0) throw new Error(`gridCentres: size must be a positive integer, got ${size}`);
  if (!Number.isInteger(g) || g <= 0) throw new Error(`gridCentres: grid size must be a positive integer, got ${g}`);
  if (!Number.isInteger(r) || r < 0) throw new Error(`gridCentres: radius must be a non-negative integer, got ${r}`);
  if (g === 1) return [Math.round((size - 1) / 2)];
  if (placement === 'stride') {
    const d = Math.floor(size / (g - 1));
    return Array.from({ length: g }, (_, i) => Math.min(i * d, size - 1));
  }
  if (placement !== 'inside') throw new Error(`gridCentres: unknown placement ${String(placement)}`);
  if (size - 1 - 2 * r < 0) throw new Error(`gridCentres: a circle of radius ${r} does not fit inside ${size} px`);
  const span = size - 1 - 2 * r;
  return Array.from({ length: g }, (_, i) => Math.round(r + (i * span) / (g - 1)));
}

/** One circle per grid cell: centre (x, y), row-major over the grid (index = h·G_w + w). */
export interface GridPrompt {
  readonly h: number;
  readonly w: number;
  readonly cx: number;
  readonly cy: number;
}

/** The G_h·G_w prompts of a square image of `size` px, row-major (h over y, w over x). */
export function gridPrompts(size: number, grid: readonly [number, number], r: number, placement: Placement = 'inside'): GridPrompt[] {
  const ys = gridCentres(size, grid[0], r, placement);
  const xs = gridCentres(size, grid[1], r, placement);
  const out: GridPrompt[] = [];
  for (let h = 0; h < ys.length; h++) for (let w = 0; w < xs.length; w++) out.push({ h, w, cx: xs[w]!, cy: ys[h]! });
  return out;
}

/**
 * The pixels (row-major indices y·width + x, ascending) that `cv2.circle` with `LINE_8` paints
 * on a width×height image. `thickness` < 0 is a filled disc.
 */
export function circlePixels(width: number, height: number, cx: number, cy: number, r: number, thickness = 2): Int32Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`circlePixels: image size must be positive integers, got ${width}×${height}`);
  }
  const m = new PixelMask(width, height);
  rasterCircle(m, cx, cy, r, thickness);
  return m.indices();
}

/**
 * Draws a circle in place on an interleaved RGB image, pixel for pixel as
 * `cv2.circle(img, (cx, cy), r, color, thickness, lineType=cv2.LINE_8)` (non-antialiased).
 */
export function drawCircle(img: RgbImage, cx: number, cy: number, r: number, thickness = 2, color: readonly [number, number, number] = [255, 0, 0]): void {
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`drawCircle: image data holds ${img.data.length} bytes, expected ${img.width}×${img.height}×3`);
  }
  const px = circlePixels(img.width, img.height, cx, cy, r, thickness);
  const d = img.data;
  for (let i = 0; i < px.length; i++) {
    const o = px[i]! * 3;
    d[o] = color[0];
    d[o + 1] = color[1];
    d[o + 2] = color[2];
  }
}

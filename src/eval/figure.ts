/**
 * A PNG figure of heatmaps side by side: one row per image; columns: the input image, its
 * ground-truth mask (foreground tinted), then one column per method with the min–max normalised
 * heatmap in a jet colour map blended over the image. Tiles are separated by white lines; the
 * column titles go in the accompanying report (no fonts needed).
 */
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RgbImage } from '../data/rgb-image.js';

/** One row of the figure; every array is size×size. */
export interface FigureRow {
  image: RgbImage;
  mask: Uint8Array;
  /** One heatmap per method, in column order (any range; normalised per map). */
  maps: Float32Array[];
}

/** Jet colour map of t ∈ [0, 1]. */
export function jet(t: number): [number, number, number] {
  const c = (x: number): number => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/** Writes the figure as PNG to `path`; returns its width and height. */
export async function writeHeatmapFigure(
  path: string,
  rows: readonly FigureRow[],
  options: { gap?: number; alpha?: number } = {},
): Promise<{ width: number; height: number }> {
  if (rows.length === 0) throw new Error('heatmap figure: no rows');
  const size = rows[0]!.image.width;
  const cols = 2 + rows[0]!.maps.length;
  const gap = options.gap ?? 4;
  const alpha = options.alpha ?? 0.5;
  const width = cols * size + (cols - 1) * gap;
  const height = rows.length * size + (rows.length - 1) * gap;
  const out = new Uint8Array(width * height * 3).fill(255);
  const put = (row: number, col: number, x: number, y: number, rgb: readonly [number, number, number]): void => {
    const o = ((row * (size + gap) + y) * width + col * (size + gap) + x) * 3;
    out[o] = rgb[0];
    out[o + 1] = rgb[1];
    out[o + 2] = rgb[2];
  };
  rows.forEach((r, ri) => {
    if (r.image.width !== size || r.image.height !== size || r.mask.length !== size * size || r.maps.length !== cols - 2) {
      throw new Error(`heatmap figure: row ${ri} does not match the first row (${size}×${size}, ${cols - 2} maps)`);
    }
    const px = (i: number): [number, number, number] => [r.image.data[i * 3]!, r.image.data[i * 3 + 1]!, r.image.data[i * 3 + 2]!];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        const p = px(i);
        put(ri, 0, x, y, p);
        put(ri, 1, x, y, r.mask[i] ? [Math.round(0.4 * p[0] + 153), Math.round(0.4 * p[1] + 40), Math.round(0.4 * p[2])] : [p[0] >> 2, p[1] >> 2, p[2] >> 2]);
      }
    }
    r.maps.forEach((m, mi) => {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of m) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const range = hi > lo ? hi - lo : 1;
      for (let i = 0; i < size * size; i++) {
        const c = jet(hi > lo ? (m[i]! - lo) / range : 0);
        const p = px(i);
        put(ri, 2 + mi, i % size, Math.floor(i / size), [0, 1, 2].map((k) => Math.round(alpha * c[k]! + (1 - alpha) * p[k]!)) as [number, number, number]);
      }
    });
  });
  mkdirSync(dirname(path), { recursive: true });
  await sharp(Buffer.from(out.buffer, out.byteOffset, out.byteLength), { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
  return { width, height };
}

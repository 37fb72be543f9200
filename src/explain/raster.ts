/**
 * Regions rasterised onto the model input, for Explain Anything and local intervention (SPEC
 * step 6): the region kinds, their binary mask on the S×S input (`rasteriseRegion`), the grid
 * weights that make region sums over upsampled maps exact (`regionGridWeights`) and the mask
 * resized to the grid by area (`gridMask`). No Node imports: the explorer page runs this code.
 * Reading regions from text and files (`parseRegion`, masks, SAM/COCO RLE) is in `regions.ts`,
 * which re-exports everything here.
 */
import { bilinearMatrix } from '../models/bilinear.js';
import { inputToImage, visibleRect, type InputGeometry } from './geometry.js';

/** A region of an image. */
export type Region =
  | { kind: 'point'; x: number; y: number; /** Disk radius in pixels of the frame (default: 1/16 of the shorter side). */ radius?: number }
  | { kind: 'box'; x0: number; y0: number; x1: number; y1: number }
  | { kind: 'mask'; mask: Uint8Array; width: number; height: number; source: string }
  | { kind: 'all' };

/** Which pixels region coordinates are in. */
export type RegionFrame = 'image' | 'input';

/** A region as a binary mask of the model input. */
export interface RasterRegion {
  /** A short description, e.g. `box:10,10,40,40`. */
  label: string;
  /** S×S, row-major, 1 inside. */
  mask: Uint8Array;
  size: number;
  /** Number of input pixels inside. */
  area: number;
  /** Things the user should know (region partly outside, mask resized). */
  warnings: string[];
}

/** A short text form of a region (the one `parseRegion` reads, for point and box). */
export function describeRegion(r: Region): string {
  const n = (v: number): string => String(Math.round(v * 100) / 100);
  switch (r.kind) {
    case 'point':
      return `point:${n(r.x)},${n(r.y)}${r.radius !== undefined ? `,${n(r.radius)}` : ''}`;
    case 'box':
      return `box:${n(r.x0)},${n(r.y0)},${n(r.x1)},${n(r.y1)}`;
    case 'mask':
      return `mask:${r.source}`;
    case 'all':
      return 'all';
  }
}

/** Options for {@link rasteriseRegion}. */
export interface RasteriseOptions {
  /** Frame of the region's coordinates (`image` by default). */
  frame?: RegionFrame;
}

/**
 * The region as a binary mask of the S×S model input. Throws when it covers no input pixel
 * (outside the image, cropped away, or too small); `warnings` says when it is partly outside
 * or a mask was resized. A mask must have the frame's size; one of the same aspect ratio
 * (within 1%) is resized (nearest neighbour) with a warning, any other is refused.
 */
export function rasteriseRegion(region: Region, g: InputGeometry, options: RasteriseOptions = {}): RasterRegion {
  const frame = options.frame ?? 'image';
  const S = g.size;
  const [fw, fh] = frame === 'image' ? [g.width, g.height] : [S, S];
  const frameName = frame === 'image' ? `the image (${fw}×${fh})` : `the model input (${S}×${S})`;
  const label = describeRegion(region);
  const warnings: string[] = [];
  const where = `region ${label}`;
  // Point in the frame for the centre of input pixel (u, v).
  const toFrame = (u: number, v: number): [number, number] => (frame === 'image' ? inputToImage(g, u + 0.5, v + 0.5) : [u + 0.5, v + 0.5]);
  const seen = frame === 'image' ? visibleRect(g) : [0, 0, S, S];

  let inside: (x: number, y: number) => boolean;
  let extent: [number, number, number, number] | undefined; // bounding box in the frame
  if (region.kind === 'all') {
    inside = () => true;
  } else if (region.kind === 'point') {
    const r = region.radius ?? Math.max(1, Math.min(fw, fh) / 16);
    if (!(r > 0)) throw new Error(`${where}: the radius must be positive`);
    const r2 = r * r;
    inside = (x, y) => (x - region.x) ** 2 + (y - region.y) ** 2 <= r2;
    extent = [region.x - r, region.y - r, region.x + r, region.y + r];
  } else if (region.kind === 'box') {
    if (!(region.x1 > region.x0 && region.y1 > region.y0)) throw new Error(`${where}: a box needs x1 > x0 and y1 > y0`);
    inside = (x, y) => x >= region.x0 && x < region.x1 && y >= region.y0 && y < region.y1;
    extent = [region.x0, region.y0, region.x1, region.y1];
  } else {
    const { mask, width: mw, height: mh } = region;
    if (mask.length !== mw * mh) throw new Error(`${where}: mask data has ${mask.length} values for ${mw}×${mh}`);
    if (mw !== fw || mh !== fh) {
      const aspect = mw / mh / (fw / fh);
      if (Math.abs(aspect - 1) > 0.01) {
        throw new Error(
          `${where}: the mask is ${mw}×${mh} but ${frameName} is ${fw}×${fh}; their aspect ratios differ, so it cannot be resized to fit — give a mask of the same size`,
        );
      }
      warnings.push(`${where}: the mask is ${mw}×${mh} but ${frameName} is ${fw}×${fh}; resized (nearest neighbour)`);
    }
    const sx = mw / fw;
    const sy = mh / fh;
    inside = (x, y) => {
      const i = Math.floor(x * sx);
      const j = Math.floor(y * sy);
      return i >= 0 && j >= 0 && i < mw && j < mh && mask[j * mw + i] === 1;
    };
    // Mask pixels the model does not see.
    let total = 0;
    let hidden = 0;
    for (let j = 0; j < mh; j++) {
      for (let i = 0; i < mw; i++) {
        if (!mask[j * mw + i]) continue;
        total++;
        const x = (i + 0.5) / sx;
        const y = (j + 0.5) / sy;
        if (x < seen[0]! || x >= seen[2]! || y < seen[1]! || y >= seen[3]!) hidden++;
      }
    }
    if (total === 0) throw new Error(`${where}: the mask is empty (no pixel is set)`);
    if (hidden > 0 && hidden < total) warnings.push(`${where}: ${hidden} of its ${total} pixels are cropped away by the preprocessing; only the rest counts`);
    if (hidden === total)
      throw new Error(
        `${where}: lies outside the part of the image the model sees (${rectText(seen)} after the ${frame === 'image' ? 'resize and crop' : 'crop'})`,
      );
  }

  if (extent) {
    const [x0, y0, x1, y1] = extent;
    if (x1 <= 0 || y1 <= 0 || x0 >= fw || y0 >= fh) throw new Error(`${where}: lies outside ${frameName}`);
    if (x0 >= seen[2]! || y0 >= seen[3]! || x1 <= seen[0]! || y1 <= seen[1]!) {
      throw new Error(`${where}: lies outside the part of the image the model sees (${rectText(seen)} after the resize and crop)`);
    }
    if (x0 < 0 || y0 < 0 || x1 > fw || y1 > fh) warnings.push(`${where}: extends beyond ${frameName}; only the part inside counts`);
    else if (x0 < seen[0]! - 1e-9 || y0 < seen[1]! - 1e-9 || x1 > seen[2]! + 1e-9 || y1 > seen[3]! + 1e-9) {
      warnings.push(`${where}: part of it is cropped away by the preprocessing (the model sees ${rectText(seen)}); only the rest counts`);
    }
  }

  const mask = new Uint8Array(S * S);
  let area = 0;
  for (let v = 0; v < S; v++) {
    for (let u = 0; u < S; u++) {
      const [x, y] = toFrame(u, v);
      if (inside(x, y)) {
        mask[v * S + u] = 1;
        area++;
      }
    }
  }
  if (area === 0) throw new Error(`${where}: covers no pixel of the model input (${S}×${S}); make it larger`);
  return { label, mask, size: S, area, warnings };
}

function rectText(r: readonly number[]): string {
  const n = (v: number): string => String(Math.round(v * 10) / 10);
  return `x ${n(r[0]!)}–${n(r[2]!)}, y ${n(r[1]!)}–${n(r[3]!)}`;
}

/**
 * w (Gh·Gw) with Σ_pixels I ⊙ up(C) = Σ_g C[g]·w[g] for any grid map C, where up is the bilinear
 * (align_corners=False) upsampling to the input size: w = R_hᵀ · I · R_w.
 */
export function regionGridWeights(region: RasterRegion, grid: readonly [number, number]): Float64Array {
  const [gh, gw] = grid;
  const S = region.size;
  const rh = bilinearMatrix(gh, S); // S×gh
  const rw = bilinearMatrix(gw, S); // S×gw
  const t = new Float64Array(S * gw);
  for (let v = 0; v < S; v++) {
    for (let u = 0; u < S; u++) {
      if (!region.mask[v * S + u]) continue;
      for (let b = 0; b < gw; b++) t[v * gw + b]! += rw[u * gw + b]!;
    }
  }
  const w = new Float64Array(gh * gw);
  for (let v = 0; v < S; v++) {
    for (let a = 0; a < gh; a++) {
      const r = rh[v * gh + a]!;
      if (r === 0) continue;
      for (let b = 0; b < gw; b++) w[a * gw + b]! += r * t[v * gw + b]!;
    }
  }
  return w;
}

/**
 * The region resized to the grid by area: each cell's value is the fraction of its input pixels
 * inside the region (a pixel belongs to the cell its centre falls in).
 */
export function gridMask(region: RasterRegion, grid: readonly [number, number]): Float32Array {
  const [gh, gw] = grid;
  const S = region.size;
  const hits = new Float64Array(gh * gw);
  const counts = new Float64Array(gh * gw);
  for (let v = 0; v < S; v++) {
    const a = Math.min(gh - 1, Math.floor(((v + 0.5) * gh) / S));
    for (let u = 0; u < S; u++) {
      const b = Math.min(gw - 1, Math.floor(((u + 0.5) * gw) / S));
      counts[a * gw + b]!++;
      if (region.mask[v * S + u]) hits[a * gw + b]!++;
    }
  }
  return Float32Array.from(hits, (h, g) => (counts[g]! > 0 ? h / counts[g]! : 0));
}

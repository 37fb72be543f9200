/**
 * Prompted-image batches: one uint8 RGB image at the encoder's input size becomes G_h·G_w
 * normalised NCHW float32 images, each with a red circle at one grid cell.
 *
 * Drawing the circle on the uint8 image and then normalising is the reference; the result is
 * the same when the unchanged base is normalised once (`toChwNormalised`) and each prompt is a
 * copy of it with the circle's pixels set to the normalised red (the normalisation is per pixel,
 * and red is normalised by the same function). The circle pixel lists are computed once per
 * geometry.
 */
import type { RgbImage } from '../data/rgb-image.js';
import { toChwNormalised } from '../data/image-io.js';
import { circlePixels, defaultRadius, gridPrompts, type GridPrompt, type Placement } from './prompting.js';

/** Where and how the circles are drawn. */
export interface PromptSpec {
  /** Square image side in pixels (the encoder's input size). */
  size: number;
  /** Grid [G_h, G_w]. */
  grid: readonly [number, number];
  /** Circle radius in pixels; `defaultRadius(size)` when omitted. */
  radius?: number;
  /** Centre placement; `inside` by default. */
  placement?: Placement;
  /** Line width; 2 (the paper's) by default. */
  thickness?: number;
  /** Circle colour; red (255, 0, 0) by default. */
  color?: readonly [number, number, number];
}

/** A PromptSpec with every default filled in. */
export interface ResolvedPromptSpec {
  size: number;
  grid: [number, number];
  radius: number;
  placement: Placement;
  thickness: number;
  color: [number, number, number];
}

/** Fills in defaults and checks the values. */
export function resolvePromptSpec(spec: PromptSpec): ResolvedPromptSpec {
  const { size, grid } = spec;
  if (!Number.isInteger(size) || size <= 0) throw new Error(`prompt spec: size must be a positive integer, got ${size}`);
  if (grid.length !== 2 || !grid.every((g) => Number.isInteger(g) && g > 0)) {
    throw new Error(`prompt spec: grid must be two positive integers, got [${grid.join(', ')}]`);
  }
  const color = spec.color ?? [255, 0, 0];
  if (color.length !== 3 || !color.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
    throw new Error(`prompt spec: color must be three integers in 0..255, got [${color.join(', ')}]`);
  }
  return {
    size,
    grid: [grid[0], grid[1]],
    radius: spec.radius ?? defaultRadius(size),
    placement: spec.placement ?? 'inside',
    thickness: spec.thickness ?? 2,
    color: [color[0], color[1], color[2]],
  };
}

const circleCache = new Map<string, Int32Array>();

/** Circle pixel lists are pure functions of the geometry; a process keeps the last few grids' worth. */
function cachedCircle(size: number, cx: number, cy: number, r: number, thickness: number): Int32Array {
  const key = `${size}:${cx}:${cy}:${r}:${thickness}`;
  let px = circleCache.get(key);
  if (!px) {
    if (circleCache.size >= 1024) circleCache.clear();
    px = circlePixels(size, size, cx, cy, r, thickness);
    circleCache.set(key, px);
  }
  return px;
}

/**
 * Builds prompted, normalised images for one base image at a time. Reuses its buffers: call
 * `setBase` per image, then `writePrompt` for any grid cells, into any batch buffer.
 */
export class PromptedBatchBuilder {
  readonly spec: ResolvedPromptSpec;
  readonly prompts: readonly GridPrompt[];
  /** Circle pixels (y·S + x) per grid cell. */
  private readonly pixels: Int32Array[];
  /** The normalised circle colour, per channel. */
  private readonly ink: Float32Array;
  private readonly base: Float32Array;
  private hasBase = false;

  constructor(
    spec: PromptSpec,
    readonly mean: readonly [number, number, number],
    readonly std: readonly [number, number, number],
  ) {
    this.spec = resolvePromptSpec(spec);
    const { size, grid, radius, placement, thickness, color } = this.spec;
    this.prompts = gridPrompts(size, grid, radius, placement);
    this.pixels = this.prompts.map((p) => cachedCircle(size, p.cx, p.cy, radius, thickness));
    this.ink = toChwNormalised({ data: Uint8Array.from(color), width: 1, height: 1 }, mean, std);
    this.base = new Float32Array(3 * size * size);
  }

  /** Number of prompts per image, G_h·G_w. */
  get count(): number {
    return this.prompts.length;
  }

  /** Values per prompted image, 3·S·S. */
  get imageLength(): number {
    return this.base.length;
  }

  /** Normalises the unprompted image once; it must be S×S RGB. */
  setBase(img: RgbImage, name = 'image'): void {
    const { size } = this.spec;
    if (img.width !== size || img.height !== size) {
      throw new Error(`${name}: image is ${img.width}×${img.height}, the encoder expects ${size}×${size}`);
    }
    toChwNormalised(img, this.mean, this.std, this.base, 0);
    this.hasBase = true;
  }

  /** Writes prompt `g` (grid cell h·G_w + w) of the current base into `out` at `offset`. */
  writePrompt(g: number, out: Float32Array, offset: number): void {
    if (!this.hasBase) throw new Error('PromptedBatchBuilder: setBase must be called first');
    const px = this.pixels[g];
    if (!px) throw new Error(`PromptedBatchBuilder: prompt ${g} is outside the grid of ${this.count}`);
    if (offset < 0 || offset + this.base.length > out.length) {
      throw new Error(`PromptedBatchBuilder: prompt at offset ${offset} does not fit in ${out.length} values`);
    }
    out.set(this.base, offset);
    const plane = this.spec.size * this.spec.size;
    const r = this.ink[0]!;
    const gr = this.ink[1]!;
    const b = this.ink[2]!;
    const o1 = offset + plane;
    const o2 = offset + 2 * plane;
    for (let i = 0; i < px.length; i++) {
      const p = px[i]!;
      out[offset + p] = r;
      out[o1 + p] = gr;
      out[o2 + p] = b;
    }
  }

  /** All G prompts of `img`, as one (G×3×S×S) batch (into `out` when given). */
  buildAll(img: RgbImage, out?: Float32Array): Float32Array {
    this.setBase(img);
    const dst = out ?? new Float32Array(this.count * this.base.length);
    for (let g = 0; g < this.count; g++) this.writePrompt(g, dst, g * this.base.length);
    return dst;
  }
}

/**
 * Resampling used by the evaluations:
 * - bilinear upsampling of low-resolution heatmaps to the input size, PyTorch
 *   `F.interpolate(mode='bilinear', align_corners=False)` semantics, as one ONNX graph per shape
 *   (Y = R_h · X · R_wᵀ with the interpolation matrices of `bilinearMatrix`);
 * - bilinear resizing of channels-last feature maps from the backbone's own grid to a model's
 *   grid (the same MatMul the backbone tail uses);
 * - nearest-neighbour resizing of masks exactly as PIL's `Image.resize(..., NEAREST)` (the
 *   reference's mask transform): source index ⌊(i + 0.5)·in/out⌋.
 */
import { GraphBuilder } from '../engine/onnx-builder.js';
import { dataF32, f32, type Engine } from '../engine/session.js';
import { bilinearMatrix, gridResizeMatrix } from '../models/backbone.js';
import type { BinaryMask } from './imagenet-seg.js';

/**
 * Upsamples `n` row-major h×w maps to H×W (bilinear, align_corners=False); returns n×H×W.
 */
export async function upsampleMaps(engine: Engine, maps: Float32Array, n: number, from: [number, number], to: [number, number]): Promise<Float32Array> {
  const [h, w] = from;
  const [H, W] = to;
  if (maps.length !== n * h * w) throw new Error(`upsampleMaps: ${maps.length} values for ${n} maps of ${h}×${w}`);
  if (n === 0) return new Float32Array(0);
  const session = await engine.cached(`eval-upsample:${h}x${w}->${H}x${W}`, () => {
    const b = new GraphBuilder('eval_upsample');
    const x = b.input('maps', 'float32', ['n', h, w]);
    const rh = b.constF32(Float32Array.from(bilinearMatrix(h, H)), [H, h]);
    const rw = bilinearMatrix(w, W); // W×w
    const rwt = new Float32Array(w * W);
    for (let o = 0; o < W; o++) for (let i = 0; i < w; i++) rwt[i * W + o] = rw[o * w + i]!;
    const y = b.op('MatMul', [b.op('MatMul', [rh, x]), b.constF32(rwt, [w, W])], {}, 'up');
    b.output(y, 'float32', ['n', H, W]);
    return b.toBytes();
  });
  const out = await session.run({ maps: f32(maps, [n, h, w]) });
  return dataF32(out.up!, 'upsampled maps');
}

/**
 * Resizes channels-last features n×(h·w)×D on their native h×w grid to n×(Gh·Gw)×D on `grid`
 * (bilinear, align_corners=False); returns the input when the grids are equal.
 */
export async function resizeFeatureGrid(
  engine: Engine,
  F: Float32Array,
  n: number,
  native: [number, number],
  grid: readonly [number, number],
  D: number,
): Promise<Float32Array> {
  const P = native[0] * native[1];
  const G = grid[0] * grid[1];
  if (F.length !== n * P * D) throw new Error(`resizeFeatureGrid: ${F.length} values for ${n}×${P}×${D}`);
  if (native[0] === grid[0] && native[1] === grid[1]) return F;
  const session = await engine.cached(`eval-grid-resize:${native.join('x')}->${grid.join('x')}:${D}`, () => {
    const b = new GraphBuilder('eval_grid_resize');
    const x = b.input('features', 'float32', ['n', P, D]);
    b.op('MatMul', [b.constF32(gridResizeMatrix(native, [grid[0], grid[1]]), [G, P]), x], {}, 'resized');
    b.output('resized', 'float32', ['n', G, D]);
    return b.toBytes();
  });
  const out = await session.run({ features: f32(F, [n, P, D]) });
  return dataF32(out.resized!, 'resized features');
}

/** Resizes a mask to width×height with PIL's nearest-neighbour rule. */
export function resizeMaskNearest(mask: BinaryMask, width: number, height: number): BinaryMask {
  if (mask.data.length !== mask.width * mask.height) throw new Error(`resizeMaskNearest: ${mask.data.length} values for ${mask.width}×${mask.height}`);
  if (mask.width === width && mask.height === height) return mask;
  const xs = Array.from({ length: width }, (_, x) => Math.min(mask.width - 1, Math.floor((x + 0.5) * (mask.width / width))));
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(mask.height - 1, Math.floor((y + 0.5) * (mask.height / height)));
    const row = sy * mask.width;
    for (let x = 0; x < width; x++) data[y * width + x] = mask.data[row + xs[x]!]!;
  }
  return { data, width, height };
}

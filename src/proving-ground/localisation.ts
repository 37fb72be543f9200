/**
 * Localisation measures on the proving ground, where every concept has an exact mask:
 * the pointing game (does the maximum of a concept's upsampled map fall on the concept?) and the
 * concept IoU under SPEC's segmentation protocol (bilinear upsampling, per-image min–max,
 * foreground strictly above the mean).
 *
 * Where the maximum is: bilinear interpolation never exceeds its grid values, so the upsampled
 * map's maximum is the largest grid value, taken at that cell's node (its centre pixel). Near the
 * border the upsampled map is flat beyond the outermost nodes, so a plain first-argmax over
 * pixels would land on the image edge for a maximum in the first row or column; the pointing
 * game therefore points at the node of the maximal cell.
 */
import { normaliseAndThreshold } from '../eval/segmentation-metrics.js';
import { upsampleBilinear } from '../explain/heatmap.js';

/** Accumulates both measures over (image, concept present) pairs. */
export class LocalisationScore {
  /**
   * `upsample` brings a grid map to image size and `nodes` gives the pixel (row, column) where
   * grid cell (h, w) sits in it: PyTorch-style bilinear (align_corners=False, cell centres at
   * (i + ½)·size/G) by default, or e.g. the prompt-aligned interpolation of
   * explain/prompt-aligned.ts with the circle centres as nodes.
   */
  constructor(
    private readonly upsample: (map: ArrayLike<number>, grid: readonly [number, number], size: number) => Float32Array = (map, grid, size) =>
      upsampleBilinear(map, grid[0], grid[1], size, size),
    private readonly nodes: (grid: readonly [number, number], size: number) => { y: number[]; x: number[] } = (grid, size) => ({
      y: Array.from({ length: grid[0] }, (_, i) => Math.floor(((i + 0.5) * size) / grid[0])),
      x: Array.from({ length: grid[1] }, (_, i) => Math.floor(((i + 0.5) * size) / grid[1])),
    }),
  ) {}

  private hits = 0;
  private trials = 0;
  private coverage = 0;
  /** Per concept: dataset-level intersections and unions [background, foreground]. */
  private readonly perConcept = new Map<string, { inter: [number, number]; union: [number, number] }>();

  /**
   * Adds one concept map (Gh×Gw, row-major) of an image against the concept's 0/1 mask
   * (size×size, row-major).
   */
  add(concept: string, map: ArrayLike<number>, grid: readonly [number, number], mask: Uint8Array, size: number): void {
    const up = this.upsample(map, grid, size);
    let cell = 0;
    for (let g = 1; g < map.length; g++) if (map[g]! > map[cell]!) cell = g;
    const { y, x } = this.nodes(grid, size);
    const peak = Math.round(y[Math.floor(cell / grid[1])]!) * size + Math.round(x[cell % grid[1]]!);
    this.trials++;
    if (mask[peak] !== 0) this.hits++;
    let area = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) area++;
    this.coverage += area / mask.length;
    const { foreground } = normaliseAndThreshold(up);
    const acc = this.perConcept.get(concept) ?? { inter: [0, 0], union: [0, 0] };
    for (let i = 0; i < up.length; i++) {
      const p = foreground[i]!;
      const t = mask[i] !== 0 ? 1 : 0;
      if (p === 1 && t === 1) acc.inter[1]++;
      if (p === 0 && t === 0) acc.inter[0]++;
      if (p === 1 || t === 1) acc.union[1]++;
      if (p === 0 || t === 0) acc.union[0]++;
    }
    this.perConcept.set(concept, acc);
  }

  /** Fraction of (image, concept) pairs whose map maximum lies inside the concept's mask. */
  get pointingGame(): number {
    return this.trials === 0 ? NaN : this.hits / this.trials;
  }

  /** The pointing game's chance level: the mean fraction of the image the concept covers. */
  get chance(): number {
    return this.trials === 0 ? NaN : this.coverage / this.trials;
  }

  /** Number of (image, concept) pairs scored. */
  get pairs(): number {
    return this.trials;
  }

  /** Per concept, the SPEC mIoU (mean of background and foreground IoU over the data set). */
  conceptIoU(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [c, { inter, union }] of this.perConcept) out[c] = (inter[0] / union[0] + inter[1] / union[1]) / 2;
    return out;
  }

  /** The mean over concepts of `conceptIoU`. */
  get conceptMIoU(): number {
    const v = Object.values(this.conceptIoU());
    return v.length === 0 ? NaN : v.reduce((a, b) => a + b, 0) / v.length;
  }
}

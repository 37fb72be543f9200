/**
 * Localisation measures on the proving ground, where every concept has an exact mask:
 * the pointing game (does the maximum of a concept's upsampled map fall on the concept?) and the
 * concept IoU under SPEC's segmentation protocol (bilinear upsampling, per-image min–max,
 * foreground strictly above the mean).
 */
import { normaliseAndThreshold } from '../eval/segmentation-metrics.js';
import { upsampleBilinear } from '../explain/heatmap.js';

/** Accumulates both measures over (image, concept present) pairs. */
export class LocalisationScore {
  /**
   * `upsample` brings a grid map to image size; PyTorch-style bilinear (align_corners=False) by
   * default, or e.g. the prompt-aligned interpolation of explain/prompt-aligned.ts.
   */
  constructor(private readonly upsample: (map: ArrayLike<number>, grid: readonly [number, number], size: number) => Float32Array =
    (map, grid, size) => upsampleBilinear(map, grid[0], grid[1], size, size)) {}

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
    let best = 0;
    for (let i = 1; i < up.length; i++) if (up[i]! > up[best]!) best = i;
    this.trials++;
    if (mask[best] !== 0) this.hits++;
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

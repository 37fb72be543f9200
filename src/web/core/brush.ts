/**
 * Brushed regions: a binary mask on the model's S×S input, painted with disks given in the
 * image's pixels (a pixel is inside when its centre, mapped to the image, is within the radius),
 * so a brushed region means the same as a `point:` region of the same radius.
 */
import { imageToInput, inputToImage, type InputGeometry } from '../../explain/geometry.js';

/** A mask being painted. */
export class BrushMask {
  readonly mask: Uint8Array;
  private last: [number, number] | undefined;

  constructor(readonly geometry: InputGeometry) {
    this.mask = new Uint8Array(geometry.size * geometry.size);
  }

  /** Number of input pixels painted. */
  get area(): number {
    let n = 0;
    for (let i = 0; i < this.mask.length; i++) n += this.mask[i]!;
    return n;
  }

  /** Paints a disk of `radius` image pixels at image point (x, y). */
  disk(x: number, y: number, radius: number): void {
    const g = this.geometry;
    const S = g.size;
    const r2 = radius * radius;
    // Bounding box of the disk in input pixels.
    const [u0, v0] = imageToInput(g, x - radius, y - radius);
    const [u1, v1] = imageToInput(g, x + radius, y + radius);
    const ua = Math.max(0, Math.floor(u0) - 1);
    const va = Math.max(0, Math.floor(v0) - 1);
    const ub = Math.min(S - 1, Math.ceil(u1) + 1);
    const vb = Math.min(S - 1, Math.ceil(v1) + 1);
    for (let v = va; v <= vb; v++) {
      for (let u = ua; u <= ub; u++) {
        const [px, py] = inputToImage(g, u + 0.5, v + 0.5);
        if ((px - x) ** 2 + (py - y) ** 2 <= r2) this.mask[v * S + u] = 1;
      }
    }
  }

  /** Continues a stroke to image point (x, y): disks every half radius from the previous point. */
  strokeTo(x: number, y: number, radius: number): void {
    const from = this.last ?? [x, y];
    const dist = Math.hypot(x - from[0], y - from[1]);
    const steps = Math.max(1, Math.ceil(dist / Math.max(radius / 2, 0.5)));
    for (let k = this.last ? 1 : 0; k <= steps; k++) {
      const t = k / steps;
      this.disk(from[0] + t * (x - from[0]), from[1] + t * (y - from[1]), radius);
    }
    this.last = [x, y];
  }

  /** Ends the current stroke (the next `strokeTo` starts a new one). */
  lift(): void {
    this.last = undefined;
  }
}

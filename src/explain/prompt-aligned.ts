/**
 * Heatmap upsampling aligned with the prompting geometry. Grid value (h, w) of a concept map is
 * learned from CLIP's view of a red circle centred at pixel (cy[h], cx[w]) (similarity/prompting.ts),
 * so a geometry-faithful heatmap puts that value at that pixel and interpolates bilinearly
 * between neighbouring centres (constant beyond the outermost ones). With the default `inside`
 * placement the centres run from r to S−1−r, whereas `align_corners=False` upsampling would put
 * cell centres at (i + ½)·S/G: up to r/2 pixels further out at the borders.
 */

/** Per output pixel: the two grid nodes it lies between and the weight of the second. */
function interpolationTable(centres: readonly number[], out: number): { lo: Int32Array; w: Float32Array } {
  const lo = new Int32Array(out);
  const w = new Float32Array(out);
  const last = centres.length - 1;
  for (let p = 0; p < out; p++) {
    if (last === 0 || p <= centres[0]!) {
      lo[p] = 0;
      w[p] = 0;
    } else if (p >= centres[last]!) {
      lo[p] = Math.max(0, last - 1);
      w[p] = last === 0 ? 0 : 1;
    } else {
      let k = 0;
      while (centres[k + 1]! < p) k++;
      lo[p] = k;
      w[p] = (p - centres[k]!) / (centres[k + 1]! - centres[k]!);
    }
  }
  return { lo, w };
}

/**
 * Upsamples a row-major gh×gw map to outH×outW, with grid row h at pixel row `centresY[h]` and
 * column w at pixel column `centresX[w]`.
 */
export function upsampleAtCentres(map: ArrayLike<number>, centresY: readonly number[], centresX: readonly number[], outH: number, outW: number): Float32Array {
  const gh = centresY.length;
  const gw = centresX.length;
  if (map.length !== gh * gw) throw new Error(`upsampleAtCentres: map has ${map.length} values, expected ${gh}×${gw}`);
  const ty = interpolationTable(centresY, outH);
  const tx = interpolationTable(centresX, outW);
  const hi = (t: { lo: Int32Array }, p: number, n: number): number => Math.min(t.lo[p]! + 1, n - 1);
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const a0 = ty.lo[y]!;
    const a1 = hi(ty, y, gh);
    const wy = ty.w[y]!;
    for (let x = 0; x < outW; x++) {
      const b0 = tx.lo[x]!;
      const b1 = hi(tx, x, gw);
      const wx = tx.w[x]!;
      const top = map[a0 * gw + b0]! * (1 - wx) + map[a0 * gw + b1]! * wx;
      const bottom = map[a1 * gw + b0]! * (1 - wx) + map[a1 * gw + b1]! * wx;
      out[y * outW + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

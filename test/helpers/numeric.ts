/** Array comparisons for numerical tests (lengths checked), and plain-JS references. */
import assert from 'node:assert/strict';
import { bilinearMatrix } from '../../src/models/backbone.js';

/** max |a−b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** max |a−b| / max |b|. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** Upsamples an h×w map to S×S in plain JS with PyTorch's bilinear weights. */
export function upsample(map: ArrayLike<number>, h: number, w: number, S: number): Float32Array {
  const rh = bilinearMatrix(h, S);
  const rw = bilinearMatrix(w, S);
  const out = new Float32Array(S * S);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      let v = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) v += rh[y * h + i]! * rw[x * w + j]! * map[i * w + j]!;
      out[y * S + x] = v;
    }
  return out;
}

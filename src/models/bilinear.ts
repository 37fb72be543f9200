/** PyTorch's 1-D linear interpolation as a matrix (no Node imports: the explorer page uses it too). */

/**
 * Row-major outSize×inSize matrix R such that `y = R·x` is PyTorch's 1-D linear interpolation
 * with `align_corners=False` (source index `(i + 0.5)·in/out − 0.5`, clamped at 0, no
 * antialiasing). Bilinear 2-D resizing is R_h ⊗ R_w.
 */
export function bilinearMatrix(inSize: number, outSize: number): Float64Array {
  if (!(Number.isInteger(inSize) && inSize > 0 && Number.isInteger(outSize) && outSize > 0)) {
    throw new Error(`bilinearMatrix: sizes must be positive integers (got ${inSize} → ${outSize})`);
  }
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(0, scale * (o + 0.5) - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const l1 = src - i0;
    m[o * inSize + i0]! += 1 - l1;
    m[o * inSize + i1]! += l1;
  }
  return m;
}

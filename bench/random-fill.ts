/** Cheap deterministic random arrays for the benchmarks (the values only need to be non-degenerate). */

/** n values uniform in [lo, hi) from a xorshift generator on 32 bits. */
export function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed | 1;
  const k = (hi - lo) / 2 ** 32;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = lo + (x >>> 0) * k;
  }
  return out;
}

/** Rows of length `len` of v, each scaled to unit norm, in place; returns v. */
export function normaliseRows(v: Float32Array, len: number): Float32Array {
  for (let o = 0; o < v.length; o += len) {
    let s = 0;
    for (let j = 0; j < len; j++) s += v[o + j]! * v[o + j]!;
    const k = 1 / Math.sqrt(s);
    for (let j = 0; j < len; j++) v[o + j]! *= k;
  }
  return v;
}

/**
 * The classifier tensors of an exported model (standardisation statistics, final layer) as one
 * binary blob the explorer's server sends and its page reads: float32, little-endian, in the
 * order mean (M), std (M), W_F (L×M, row-major), b_F (L). Shared by both sides so the layout is
 * written down once.
 */
import type { ClassifierWeights } from '../../models/salf-head.js';

/** The parts of the blob, in order. */
export const HEAD_PARTS = ['mean', 'std', 'finalWeight', 'finalBias'] as const;

/** Number of float32 values of each part for M concepts and L classes. */
export function headPartLengths(M: number, L: number): Record<(typeof HEAD_PARTS)[number], number> {
  return { mean: M, std: M, finalWeight: L * M, finalBias: L };
}

/** Packs the classifier tensors into the blob. */
export function encodeHead(head: ClassifierWeights, M: number, L: number): Uint8Array {
  const lengths = headPartLengths(M, L);
  const total = HEAD_PARTS.reduce((a, p) => a + lengths[p], 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const p of HEAD_PARTS) {
    const v = head[p];
    if (v.length !== lengths[p]) throw new Error(`encodeHead: ${p} has ${v.length} values, expected ${lengths[p]}`);
    out.set(v, o);
    o += v.length;
  }
  return new Uint8Array(out.buffer);
}

/** Reads the blob back (M concepts, L classes); throws when its size does not match. */
export function decodeHead(bytes: ArrayBuffer | Uint8Array, M: number, L: number): ClassifierWeights {
  const lengths = headPartLengths(M, L);
  const total = HEAD_PARTS.reduce((a, p) => a + lengths[p], 0);
  const src = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (src.byteLength !== total * 4) {
    throw new Error(`classifier weights: got ${src.byteLength} bytes, expected ${total * 4} (${M} concepts, ${L} classes)`);
  }
  const copy = new Uint8Array(src.byteLength);
  copy.set(src);
  const all = new Float32Array(copy.buffer);
  let o = 0;
  const take = (n: number): Float32Array => {
    const v = all.subarray(o, o + n);
    o += n;
    return v;
  };
  return { mean: take(lengths.mean), std: take(lengths.std), finalWeight: take(lengths.finalWeight), finalBias: take(lengths.finalBias) };
}

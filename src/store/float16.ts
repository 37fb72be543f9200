/**
 * float32 ↔ float16 (IEEE binary16, little-endian bits) for the stores' float16 fields
 * (row-store.ts) and CLIP's half-precision models.
 * Rounding to float16 is `@petamoriken/float16`'s (round to nearest, ties to even); decoding uses
 * a 65,536-entry table built from the same library.
 */
import { Float16Array } from '@petamoriken/float16';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float16 bit patterns (as stored on disk, little-endian) of `values`. */
export function toFloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint16Array(new Float16Array(values).buffer);
  if (!LITTLE_ENDIAN) swapBytes(bits);
  return bits;
}

let decodeTable: Float32Array | undefined;

function table(): Float32Array {
  if (!decodeTable) {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const f16 = new Float16Array(all.buffer);
    const t = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) t[i] = f16[i]!;
    decodeTable = t;
  }
  return decodeTable;
}

/** float32 values of little-endian float16 bits, written into `out` at `offset` when given. */
export function fromFloat16Bits(bits: Uint16Array, out?: Float32Array, offset = 0): Float32Array {
  const t = table();
  const dst = out ?? new Float32Array(bits.length);
  if (offset + bits.length > dst.length) throw new Error(`fromFloat16Bits: ${bits.length} values do not fit at offset ${offset}`);
  if (LITTLE_ENDIAN) {
    for (let i = 0; i < bits.length; i++) dst[offset + i] = t[bits[i]!]!;
  } else {
    for (let i = 0; i < bits.length; i++) {
      const b = bits[i]!;
      dst[offset + i] = t[((b & 0xff) << 8) | (b >> 8)]!;
    }
  }
  return dst;
}

function swapBytes(bits: Uint16Array): void {
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    bits[i] = ((b & 0xff) << 8) | (b >> 8);
  }
}

/** A small, fast, seeded pseudo-random generator (sfc32) and seed derivation. */

/** Mixes a 32-bit integer (a murmur3-style finaliser). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * A 32-bit seed derived from a base seed and any list of labels (strings or integers), so that
 * each image of each split has its own stream, independent of how many images are generated.
 */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  for (const label of labels) {
    const s = String(label);
    for (let i = 0; i < s.length; i++) h = mix32(h ^ Math.imul(s.charCodeAt(i) + 1, 0x27d4eb2d));
    h = mix32(h ^ 0x165667b1);
  }
  return h;
}

/** Seeded sfc32 generator of the proving ground: uniform floats, integers, choices and shuffles (training draws from `src/rng.ts`). */
export class Sfc32Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Sfc32Rng.pick: empty array');
    return items[Math.floor(this.next() * items.length)]!;
  }
}

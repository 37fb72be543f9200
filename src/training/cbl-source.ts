/**
 * Row sources for the concept-layer training: a split whose rows (images) are read in chunks, so
 * that a split larger than memory (at N = 48,000, G = 49, D = 2048 the features alone are 19 GB
 * float32) can be trained on by streaming (see cbl-stream.ts). `arraySource` adapts an in-memory
 * split; a store-backed source reads float16 shards from disk.
 */
import { fromFloat16Bits } from '../store/float16.js';
import { checkpointKey } from './cbl-checkpoint.js';

/** Float32 values, or IEEE float16 bit patterns (little-endian) in a Uint16Array. */
export type RowData = Float32Array | Uint16Array;

/** One chunk of rows: F [k,G,D] and I [k,G,E] (row-major, channels last). */
export interface CblRowChunk {
  F: RowData;
  I: RowData;
  k: number;
  /** The source's indices of the k rows, ascending. */
  rows: readonly number[];
}

/** A split whose rows (images) are read in chunks, e.g. from on-disk shards. */
export interface CblRowSource {
  readonly n: number;
  /**
   * Visits the given rows (ascending, distinct) in order, in chunks of at most `maxRows` rows:
   * F [k,G,D], I [k,G,E] (row-major, channels last). The callback's arrays may be reused after it
   * resolves.
   */
  forEachChunk(rows: readonly number[] | 'all', maxRows: number, visit: (chunk: CblRowChunk) => Promise<void>): Promise<void>;
  /** A stable identity string of the content (for checkpoint keys). */
  identity(): string;
}

/** One split held in memory: F [n,G,D], I [n,G,E] (float32, channels last). */
export interface CblArraySet {
  F: Float32Array;
  I: Float32Array;
  n: number;
}

/** Whether `x` is a row source (rather than an in-memory split). */
export function isRowSource(x: CblRowSource | CblArraySet): x is CblRowSource {
  return typeof (x as CblRowSource).forEachChunk === 'function';
}

/** Checks that `rows` are ascending, distinct indices into 0..n-1. */
export function checkRows(rows: readonly number[], n: number, who: string): void {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= n) throw new Error(`${who}: row ${r} outside 0..${n - 1}`);
    if (i > 0 && r <= rows[i - 1]!) throw new Error(`${who}: rows must be ascending and distinct (${rows[i - 1]} then ${r})`);
  }
}

function positiveInt(who: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${name} must be a positive integer, got ${v}`);
}

/**
 * An in-memory split as a row source. Chunks of consecutive rows are views into the arrays (no
 * copy); other chunks are gathered into two buffers reused across chunks. The identity is a
 * SHA-256 of the arrays (computed once, on first use).
 */
export function arraySource(set: CblArraySet): CblRowSource {
  const { F, I, n } = set;
  positiveInt('arraySource', 'n', n);
  if (F.length % n !== 0 || I.length % n !== 0) throw new Error(`arraySource: F (${F.length} values) and I (${I.length}) must hold n = ${n} rows each`);
  const fr = F.length / n;
  const ir = I.length / n;
  let id: string | undefined;
  return {
    n,
    identity: () => (id ??= `arrays-sha256:${checkpointKey(null, [F, I])}`),
    async forEachChunk(rows, maxRows, visit) {
      positiveInt('arraySource.forEachChunk', 'maxRows', maxRows);
      if (rows === 'all') {
        for (let r0 = 0; r0 < n; r0 += maxRows) {
          const k = Math.min(maxRows, n - r0);
          const idx = Array.from({ length: k }, (_, j) => r0 + j);
          await visit({ F: F.subarray(r0 * fr, (r0 + k) * fr), I: I.subarray(r0 * ir, (r0 + k) * ir), k, rows: idx });
        }
        return;
      }
      checkRows(rows, n, 'arraySource.forEachChunk');
      let fBuf: Float32Array | undefined;
      let iBuf: Float32Array | undefined;
      for (let c0 = 0; c0 < rows.length; c0 += maxRows) {
        const idx = rows.slice(c0, c0 + maxRows);
        const k = idx.length;
        const r0 = idx[0]!;
        if (idx[k - 1]! - r0 === k - 1) {
          await visit({ F: F.subarray(r0 * fr, (r0 + k) * fr), I: I.subarray(r0 * ir, (r0 + k) * ir), k, rows: idx });
          continue;
        }
        fBuf ??= new Float32Array(Math.min(maxRows, rows.length) * fr);
        iBuf ??= new Float32Array(Math.min(maxRows, rows.length) * ir);
        idx.forEach((r, j) => {
          fBuf!.set(F.subarray(r * fr, (r + 1) * fr), j * fr);
          iBuf!.set(I.subarray(r * ir, (r + 1) * ir), j * ir);
        });
        await visit({ F: fBuf.subarray(0, k * fr), I: iBuf.subarray(0, k * ir), k, rows: idx });
      }
    },
  };
}

/** Copies `src` (float32, or float16 bits) into `dst` at `offset`, as float32. */
export function copyAsFloat32(src: RowData, dst: Float32Array, offset = 0): void {
  if (src instanceof Float32Array) {
    dst.set(src, offset);
    return;
  }
  fromFloat16Bits(src, dst, offset);
}

/**
 * Reads the given rows (ascending, distinct; all when 'all') of a source into float32 arrays
 * F [B,G,D], I [B,G,E] in that order, checking the chunk sizes against G·D and G·E.
 */
export async function loadRows(
  source: CblRowSource,
  rows: readonly number[] | 'all',
  dims: { G: number; D: number; E: number },
  maxRows: number,
): Promise<CblArraySet> {
  const B = rows === 'all' ? source.n : rows.length;
  const fr = dims.G * dims.D;
  const ir = dims.G * dims.E;
  const F = new Float32Array(B * fr);
  const I = new Float32Array(B * ir);
  let at = 0;
  await source.forEachChunk(rows, maxRows, async (c) => {
    checkChunk(c, fr, ir, 'loadRows');
    if (at + c.k > B) throw new Error(`loadRows: the source delivered more than the ${B} rows asked for`);
    copyAsFloat32(c.F, F, at * fr);
    copyAsFloat32(c.I, I, at * ir);
    at += c.k;
  });
  if (at !== B) throw new Error(`loadRows: the source delivered ${at} rows, expected ${B}`);
  return { F, I, n: B };
}

/** Checks one chunk's array lengths against k rows of `fr` and `ir` values. */
export function checkChunk(c: CblRowChunk, fr: number, ir: number, who: string): void {
  if (!Number.isInteger(c.k) || c.k < 1) throw new Error(`${who}: a chunk has k = ${c.k} rows`);
  for (const [name, x] of [
    ['F', c.F],
    ['I', c.I],
  ] as const) {
    if (!(x instanceof Float32Array || x instanceof Uint16Array))
      throw new Error(`${who}: a chunk's ${name} is a ${(x as object).constructor.name}, expected a Float32Array or float16 bits in a Uint16Array`);
  }
  if (c.F.length !== c.k * fr) throw new Error(`${who}: a chunk's F has ${c.F.length} values, expected k×G×D = ${c.k * fr}`);
  if (c.I.length !== c.k * ir) throw new Error(`${who}: a chunk's I has ${c.I.length} values, expected k×G×E = ${c.k * ir}`);
}

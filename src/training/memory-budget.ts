/**
 * The memory budget of the stages that touch every image (pooled activations, standardisation,
 * the final layer): a number of bytes that the process's peak resident memory should stay under,
 * whatever the number of images. Stages size their chunks from it instead of holding N rows.
 *
 * Default: 4 GiB, or half of the machine's memory when that is less. 4 GiB holds the buffers
 * every stage needs with room to spare (the largest, a chunk of ResNet-50 features of 256 images
 * with its float32 copy, is ~150 MiB) and is available on any machine this trains on; half the
 * memory leaves the other half to the page cache (which makes re-reading the on-disk stores
 * cheap) and to other processes on small machines.
 *
 * Of the budget, {@link RUNTIME_RESERVE} is set aside for what no stage controls (Node's heap
 * and code, ONNX Runtime's arenas and sessions); {@link usableBytes} is the rest, which stages
 * share out with {@link rowsFor}.
 */
import { totalmem } from 'node:os';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Bytes reserved for the runtime itself (Node, ONNX Runtime, compiled graphs). */
export const RUNTIME_RESERVE = 384 * MiB;

/** The smallest budget accepted: the runtime reserve plus 128 MiB for stage buffers. */
export const MIN_MEMORY_BUDGET = RUNTIME_RESERVE + 128 * MiB;

/** The default budget: 4 GiB, or half of `total` bytes (the machine's memory) when that is less. */
export function defaultMemoryBudget(total = totalmem()): number {
  return Math.max(MIN_MEMORY_BUDGET, Math.min(4 * GiB, Math.floor(total / 2)));
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: KiB,
  mib: MiB,
  gib: GiB,
  tib: 1024 * GiB,
};

/**
 * Bytes of a budget written as a number of bytes (`1073741824`) or with a unit: decimal
 * (`512MB` = 512·10⁶, also `k`, `m`, `g`, `t`) or binary (`4GiB` = 4·2³⁰, also `KiB`, `MiB`,
 * `TiB`); case-insensitive, a space allowed before the unit, fractions allowed (`1.5GiB`).
 * `undefined` gives the default ({@link defaultMemoryBudget}). Budgets under
 * {@link MIN_MEMORY_BUDGET} are refused.
 */
export function parseMemoryBudget(value: string | number | undefined): number {
  if (value === undefined) return defaultMemoryBudget();
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(value);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) throw new Error(`memory budget '${value}': expected bytes or a size such as 4GiB, 512MB, 1.5g`);
    bytes = Number(m[1]) * unit;
  }
  if (!Number.isFinite(bytes) || bytes <= 0) throw new Error(`memory budget ${String(value)}: must be a positive size`);
  bytes = Math.floor(bytes);
  if (bytes < MIN_MEMORY_BUDGET)
    throw new Error(`memory budget ${String(value)} (${formatBytes(bytes)}) is below the minimum ${formatBytes(MIN_MEMORY_BUDGET)}`);
  return bytes;
}

/** Bytes of the budget that stages may use for their own buffers. */
export function usableBytes(budget: number): number {
  return Math.max(0, budget - RUNTIME_RESERVE);
}

/** Bytes of a stage's buffers that do not grow with its chunk (sessions, weights, gradients): 128 MiB. */
export const STAGE_FIXED_BYTES = 128 * MiB;

/**
 * Bytes a stage that starts now may use for its chunks: the budget less what the process already
 * holds resident (`residentBytes`, by default its RSS: the runtime and the arenas and caches
 * earlier stages left behind) and {@link STAGE_FIXED_BYTES}; never less than 64 MiB. Unlike
 * {@link usableBytes}, this sees what earlier stages left resident, which can exceed the
 * runtime reserve.
 */
export function availableBytes(budget: number, residentBytes = process.memoryUsage().rss): number {
  return Math.max(64 * MiB, budget - residentBytes - STAGE_FIXED_BYTES);
}

/** Options of {@link rowsFor}. */
export interface RowsForOptions {
  /** Bytes held regardless of the row count (e.g. one shard read from disk); 0. */
  fixedBytes?: number;
  /** At least this many rows, even over budget; 1. */
  min?: number;
  /** At most this many rows (e.g. the rows that exist, or a size past which chunks gain nothing). */
  max?: number;
}

/**
 * Rows that fit in `bytes` (a share of the usable budget) when each row needs `bytesPerRow`,
 * after `fixedBytes`; clamped to [min, max].
 */
export function rowsFor(bytes: number, bytesPerRow: number, options: RowsForOptions = {}): number {
  if (!(bytesPerRow > 0)) throw new Error(`rowsFor: bytesPerRow must be > 0, got ${bytesPerRow}`);
  const min = options.min ?? 1;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const rows = Math.floor((bytes - (options.fixedBytes ?? 0)) / bytesPerRow);
  return Math.max(min, Math.min(max, rows));
}

/** `1.5 GiB`, `380 MiB`, `12 KiB`, `10 B`. */
export function formatBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(2).replace(/\.?0+$/, '')} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${n} B`;
}

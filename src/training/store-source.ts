/**
 * The concept-layer training's row source over the on-disk stores (src/store/row-store.ts): a
 * split's backbone features and prompted CLIP embeddings, read in chunks of rows with positioned
 * reads, float16 passed through as stored (the graphs cast it). Split row i is row
 * `features.rows[i]` of the feature store and `prompted.rows[i]` of the embedding store, so a
 * split can be any subset of the stores' rows (e.g. the images that decoded).
 */
import { createHash } from 'node:crypto';
import type { RowStore } from '../store/row-store.js';
import { checkRows, type CblRowSource } from './cbl-source.js';

/** One store's field and the store rows of the split, in split order. */
export interface StoreColumn {
  store: RowStore;
  field: string;
  rows: readonly number[];
}

/** A row source reading F from `features` and I from `prompted`. */
export function storeSource(features: StoreColumn, prompted: StoreColumn): CblRowSource {
  const n = features.rows.length;
  if (prompted.rows.length !== n) throw new Error(`storeSource: ${n} feature rows but ${prompted.rows.length} embedding rows`);
  if (n === 0) throw new Error('storeSource: the split is empty');
  for (const c of [features, prompted]) {
    c.store.fieldLength(c.field);
    for (const r of c.rows) c.store.shardOf(r);
  }
  let id: string | undefined;
  return {
    n,
    identity(): string {
      if (id === undefined) {
        const h = createHash('sha256');
        for (const c of [features, prompted]) {
          h.update(`${c.store.manifest.key}\0${c.field}\0`);
          h.update(new Uint8Array(Int32Array.from(c.rows).buffer));
        }
        id = `stores-sha256:${h.digest('hex').slice(0, 32)}`;
      }
      return id;
    },
    async forEachChunk(rows, maxRows, visit) {
      if (!Number.isInteger(maxRows) || maxRows < 1) throw new Error(`storeSource: maxRows must be a positive integer, got ${maxRows}`);
      if (rows !== 'all') checkRows(rows, n, 'storeSource.forEachChunk');
      const total = rows === 'all' ? n : rows.length;
      for (let c0 = 0; c0 < total; c0 += maxRows) {
        const k = Math.min(maxRows, total - c0);
        const idx = Array.from({ length: k }, (_, j) => (rows === 'all' ? c0 + j : rows[c0 + j]!));
        const F = features.store.readRows(
          features.field,
          idx.map((i) => features.rows[i]!),
        );
        const I = prompted.store.readRows(
          prompted.field,
          idx.map((i) => prompted.rows[i]!),
        );
        await visit({ F, I, k, rows: idx });
      }
    },
  };
}
